"""mtbench on the three MTBench example cases of ../shared/data/mtbench_examples (its own layout)."""
from __future__ import annotations

import shutil

import pytest

from evalkit.errors import EvalkitError
from evalkit.mtbench_layout import output_dir_name, prompt_from_dir_name
from evalkit.registry import DATASETS


@pytest.fixture
def examples(shared_data):
    return shared_data / "mtbench_examples"


def mtbench(root, **options):
    return DATASETS.get("mtbench")(root=root, **options)


def test_one_case_per_source_and_evaluation_prompt_with_masks(examples):
    ds = mtbench(examples)
    assert ds.check() == []
    cases = ds.cases()
    assert len(cases) == 15
    assert [c.case_id for c in cases[:5]] == [f"dance-twirl/{k}" for k in range(5)]
    first = cases[0]
    # the file's line is " An astronaut is dancing on mars.  ": the prompt is stripped, the
    # output folder keeps the leading space as evaluation.py builds it
    assert first.target_prompt == "An astronaut is dancing on mars."
    assert first.meta["output_dir"] == "_An_astronaut_is_dancing_on_mars"
    assert first.source_prompt.startswith("A woman wearing a blue dress is dancing")
    video = first.source.load()
    assert (video.num_frames, video.height, video.width, video.fps) == (49, 480, 720, 8.0)
    masks = first.source_mask.load()
    assert masks.shape == (1, 480, 720) and masks[0].any()  # the first frame's, all MTBench reads
    dog = next(c for c in cases if c.case_id == "dog-agility/4")
    assert dog.target_prompt == "A rabbit running through a series of red and white hurdles."
    # the mask folders do not follow the clips (90, 25, 66 masks for 49 frames): one mask each
    assert dog.source_mask.path.name == "00000.png"


def test_sequences_option_and_unknown_name(examples):
    assert {c.meta["sequence"] for c in mtbench(examples, sequences="snowboard").cases()} == {"snowboard"}
    with pytest.raises(EvalkitError, match="unknown sequence.*'snowbord'"):
        mtbench(examples, sequences="snowbord").cases()
    assert all(c.source_mask is None for c in mtbench(examples, masks="false").cases())


def test_output_folder_names_as_the_released_script_builds_them():
    assert output_dir_name("A robot is dancing on the stage.") == "A_robot_is_dancing_on_the_stage"
    assert output_dir_name(" An astronaut is dancing on mars.  ") == "_An_astronaut_is_dancing_on_mars"
    assert output_dir_name("no final dot  ") == "no_final_dot"
    assert prompt_from_dir_name("A_robot_is_dancing_on_the_stage") == "A robot is dancing on the stage."


def test_check_names_each_problem(examples, tmp_path):
    root = tmp_path / "mtbench"
    for name in ("dance-twirl", "snowboard"):
        shutil.copytree(examples / name, root / name)
    (root / "dance-twirl" / "eval_prompts.txt").unlink()
    (root / "snowboard" / "masks" / "snowboard" / "00000.png").unlink()
    (root / "snowboard" / "videos" / "snowboard.mp4").write_bytes(b"not a video")
    problems = mtbench(root).check()
    assert any(p.startswith("dance-twirl:") and "eval_prompts.txt not found" in p for p in problems)
    assert any(p.startswith("snowboard:") and "00000.png not found" in p for p in problems)
    assert any(p.startswith("snowboard:") and "snowboard.mp4" in p for p in problems)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert mtbench(empty).check() == [f"mtbench: no source folders under {empty}"]
    with pytest.raises(EvalkitError, match="no data root; pass --root"):
        mtbench(None).cases()


def test_data_check_cli(examples):
    from typer.testing import CliRunner

    from evalkit.cli import _load_commands
    from evalkit.cli.app import app

    _load_commands()
    result = CliRunner().invoke(app, ["data", "check", "mtbench", "--root", str(examples)])
    assert result.exit_code == 0, result.output
    assert "mtbench: 15 cases" in result.output
