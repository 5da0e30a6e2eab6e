"""``videos``: a method's pre-generated outputs scored like any generator (a submission)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml
from stored_values import statuses_and_values  # noqa: E402

from evalkit.cases import MultiShotCase
from evalkit.data.export import export_cases
from evalkit.errors import EvalkitError
from evalkit.registry import DATASETS, GENERATORS
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.video import Video, read_video, write_video

SUITE = ComponentSpec("synthetic", {"motions": "translation,pan,rotation", "num_frames": 8})
MF = ComponentSpec("motion-fidelity", {"backend": "klt"})


def _cases():
    return DATASETS.get("synthetic")(**SUITE.options).cases()


def _values(out, run_id):
    return statuses_and_values(out, run_id, ("generator", "case_id"))


@pytest.fixture()
def exported(tmp_path):
    export_cases(_cases(), tmp_path / "S")
    return tmp_path / "S"


def test_lossless_export_round_trips_exactly(exported):
    for case in _cases():
        assert np.array_equal(read_video(exported / "sources" / f"{case.case_id}.mp4").frames,
                              case.source.load().frames)


def test_exported_sources_as_a_submission_score_exactly_like_copy(exported, tmp_path):
    sub = tmp_path / "G"
    shutil.copytree(exported / "sources", sub)
    plan = Plan(SUITE, (ComponentSpec("copy"), ComponentSpec("videos", {"dir": str(sub), "name": "copy-as-sub"})),
                (MF,))
    run_plan(plan, tmp_path / "run")
    values = _values(tmp_path / "run", plan.run_id)
    for case in _cases():
        assert values[("copy-as-sub", case.case_id)] == values[("copy", case.case_id)]


def test_missing_and_corrupt_are_listed_up_front_and_the_rest_is_scored(exported, tmp_path):
    sub = tmp_path / "G"
    shutil.copytree(exported / "sources", sub)
    a, b, c = (case.case_id for case in _cases())
    (sub / f"{a}.mp4").unlink()
    (sub / f"{b}.mp4").write_bytes(b"not a video")
    (sub / "stray.mp4").write_bytes(b"")
    notices = []
    plan = Plan(SUITE, (ComponentSpec("videos", {"dir": str(sub), "name": "sub"}),), (MF,))
    summary = run_plan(plan, tmp_path / "run", notice=notices.append)
    text = "\n".join(notices)
    assert f"{a} (seed 0): missing" in text and f"{b} (seed 0):" in text and "unreadable" in text
    assert "extra file not matching any case" in text and "stray.mp4" in text
    assert len(summary.input_problems["sub"]) == 3
    values = _values(tmp_path / "run", plan.run_id)
    assert values[("sub", a)][0] == values[("sub", b)][0] == "failed"
    assert values[("sub", c)] == ("ok", pytest.approx(1.0))


def test_replacing_one_video_recomputes_exactly_that_item(exported, tmp_path):
    sub = tmp_path / "G"
    shutil.copytree(exported / "sources", sub)
    plan = Plan(SUITE, (ComponentSpec("videos", {"dir": str(sub), "name": "sub"}),), (MF,))
    run_plan(plan, tmp_path / "run")
    first = _case = _cases()[0]
    video = read_video(sub / f"{first.case_id}.mp4")
    write_video(video.with_frames(video.frames[::-1], note="reversed"), sub / f"{first.case_id}.mp4", lossless=True)
    again = run_plan(plan, tmp_path / "run")
    assert (again.generated, again.computed) == (1, 1)
    assert _values(tmp_path / "run", plan.run_id)[("sub", first.case_id)][1] < 0.5


def test_seed_folders_multi_shot_sets_frame_folders_and_metadata(tmp_path):
    sub = tmp_path / "G"
    shots = [Video(np.full((4, 16, 16, 3), 40 * j, np.uint8), 8.0) for j in range(2)]
    case = MultiShotCase("set0", "a dog", ("a dog runs", "a dog sleeps"))
    for seed in (0, 1):
        for j, shot in enumerate(shots):
            write_video(shot, sub / "set0" / f"seed{seed}" / f"shot{j}")     # PNG frame folders
    (sub / "submission.yaml").write_text(yaml.safe_dump(
        {"method": "my-method", "paper": "Me et al.", "fps": 8, "resolution": [16, 16], "seeds": [0, 1]}))
    gen = GENERATORS.get("videos")(dir=str(sub))
    assert gen.label() == "my-method" and gen.provenance()["submission"]["paper"] == "Me et al."
    assert gen.preflight([case], [0, 1]) == []
    out = gen(case, 1)
    assert [v.fps for v in out.videos] == [8.0, 8.0]
    assert all(np.array_equal(v.frames, s.frames) for v, s in zip(out.videos, shots))
    assert gen.input_fingerprint(case, 0) != gen.input_fingerprint(case, 2)          # seed 2 is missing
    assert "set0 (seed 2): missing" in gen.preflight([case], [2])[0]
    (sub / "submission.yaml").write_text(yaml.safe_dump({"method": "m", "resolution": [32, 32]}))
    assert "declares 32x32" in GENERATORS.get("videos")(dir=str(sub)).preflight([case], [0])[0]


def test_bad_submission_metadata_is_one_clear_error(tmp_path):
    (tmp_path / "submission.yaml").write_text("methd: typo\n")
    with pytest.raises(EvalkitError, match="unknown key.*methd"):
        GENERATORS.get("videos")(dir=str(tmp_path))
    with pytest.raises(EvalkitError, match="not a folder"):
        GENERATORS.get("videos")(dir=str(tmp_path / "nope"))
