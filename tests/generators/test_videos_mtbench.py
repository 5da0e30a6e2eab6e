"""``videos`` reads MTBench's output layout (``<prompt with underscores>/*.mp4``): a method's
MTBench outputs score exactly like the same frames anywhere else."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from stored_values import statuses_and_values  # noqa: E402

from evalkit.generators.weight_free.videos import expected_paths, mtbench_file
from evalkit.registry import DATASETS, GENERATORS
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.synthetic import SyntheticSpec, render
from evalkit.video import read_video, write_video

PROMPTS = " A robot is dancing on mars.  \nA cat running through cones.\n"


@pytest.fixture()
def small_mtbench(tmp_path):
    """An MTBench-layout folder of one short rendered clip (the examples take minutes to track)."""
    from PIL import Image

    root = tmp_path / "mtbench"
    clip = root / "pan"
    (clip / "videos").mkdir(parents=True)
    (clip / "masks" / "pan").mkdir(parents=True)
    video = render(SyntheticSpec("pan", num_frames=8)).video
    write_video(video, clip / "videos" / "pan.mp4", lossless=True)
    mask = np.zeros((video.height, video.width), np.uint8)
    mask[20:100, 30:140] = 200
    Image.fromarray(mask).save(clip / "masks" / "pan" / "00000.png")
    (clip / "eval_prompts.txt").write_text(PROMPTS)
    (clip / "prompts.txt").write_text("A square moving right.")
    return root


def _values(out, run_id):
    return statuses_and_values(out, run_id)


@pytest.mark.ml   # hybrid=true draws its tracks with torch's generator, as the release does
def test_outputs_in_mtbench_layout_score_exactly_like_copy(small_mtbench, tmp_path):
    cases = DATASETS.get("mtbench")(root=small_mtbench).cases()
    assert [expected_paths(c, 0) for c in cases] == [["_A_robot_is_dancing_on_mars/seed0.mp4"],
                                                     ["A_cat_running_through_cones/seed0.mp4"]]
    gen = tmp_path / "gen"
    for name in ("_A_robot_is_dancing_on_mars", "A_cat_running_through_cones"):  # evaluation.py's folders
        (gen / name).mkdir(parents=True)
        shutil.copy(small_mtbench / "pan" / "videos" / "pan.mp4", gen / name / "output.mp4")
    videos = GENERATORS.get("videos")(dir=str(gen), name="method")
    assert videos.preflight(cases, [0]) == []
    metrics = (ComponentSpec("motion-fidelity", {"backend": "klt", "protocol": "mtbench"}),
               ComponentSpec("motion-fidelity", {"backend": "klt", "protocol": "mtbench", "hybrid": True,
                                                 "hybrid_seed": 5}))
    plan = Plan(ComponentSpec("mtbench", {"root": str(small_mtbench)}),
                (ComponentSpec("copy"), ComponentSpec("videos", {"dir": str(gen), "name": "method"})), metrics)
    run_plan(plan, tmp_path / "run")
    values = _values(tmp_path / "run", plan.run_id)
    assert len(values) == 2 * 2 * 2
    for (generator, case_id, metric), (status, value) in values.items():
        assert status == "ok"
        if generator == "method":
            assert value == values[("copy", case_id, metric)][1]
    hybrid = [v for (g, _, m), (_, v) in values.items() if "hybrid" in m]
    assert all(v < 1.0 for v in hybrid)  # a copy's hybrid is below 1: points at different times are apart


def test_seed_k_is_the_file_named_so_else_the_kth_in_name_order(tmp_path):
    folder = tmp_path / "A_prompt"
    folder.mkdir()
    for name in ("b.mp4", "a.mp4", "notes.txt"):
        (folder / name).write_bytes(b"")
    assert mtbench_file(folder, 0).name == "a.mp4" and mtbench_file(folder, 1).name == "b.mp4"
    assert mtbench_file(folder, 2) is None and mtbench_file(tmp_path / "missing", 0) is None
    (folder / "seed1.mp4").write_bytes(b"")
    assert mtbench_file(folder, 1).name == "seed1.mp4"


def test_the_evalkit_layout_still_wins_and_a_missing_prompt_folder_is_named(small_mtbench, tmp_path):
    cases = DATASETS.get("mtbench")(root=small_mtbench).cases()
    gen = tmp_path / "gen"
    (gen / "pan").mkdir(parents=True)
    write_video(render(SyntheticSpec("pan", num_frames=8, seed=3)).video, gen / "pan" / "0.mp4", lossless=True)
    videos = GENERATORS.get("videos")(dir=str(gen), name="method")
    assert videos.files(cases[0], 0) == [gen / "pan" / "0.mp4"]  # <case_id>.mp4
    problems = videos.preflight(cases, [0])
    assert problems == [f"pan/1 (seed 0): missing {gen / 'A_cat_running_through_cones/seed0.mp4'}"]
    assert read_video(gen / "pan" / "0.mp4").num_frames == 8
