"""A submission's inputs (issue 27 items 1, 4, 5): everything that determines its frames is in
its cache key, ``submission.yaml`` is validated up front, paths stay inside the folder, and a
wrongly sized video fails its item instead of being averaged in."""
from __future__ import annotations

import json
import os

import pytest
import yaml
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.errors import EvalkitError
from evalkit.registry import DATASETS, GENERATORS
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import ResultsStore
from evalkit.video import write_video

SUITE = ComponentSpec("synthetic", {"motions": "translation,pan", "num_frames": 8})
MF = ComponentSpec("motion-fidelity", {"backend": "klt", "grid_size": 12})   # a coarse grid: fast, same protocol


def _cases():
    return DATASETS.get("synthetic")(**SUITE.options).cases()


def _rows(out, run_id):
    store = ResultsStore(out)
    try:
        df = store.results(run_id)
    finally:
        store.close()
    return {c: (s, v, e) for c, s, v, e in df[["case_id", "status", "value", "error"]].itertuples(index=False)}


@pytest.fixture()
def frame_folders(tmp_path):
    """The sources as PNG frame folders (their rate is the one submission.yaml declares)."""
    sub = tmp_path / "sub"
    for case in _cases():
        write_video(case.source.load(), sub / case.case_id)
    return sub


def _declare(sub, **info):
    (sub / "submission.yaml").write_text(yaml.safe_dump({"method": "mine", **info}))


def test_changing_the_declared_fps_recomputes_never_replays_the_old_value(frame_folders, tmp_path):
    """Defect: editing fps in submission.yaml changed nothing in the keys: the re-run printed the
    old value under the same run id, with the new fps in the provenance."""
    plan = Plan(SUITE, (ComponentSpec("videos", {"dir": str(frame_folders)}),), (MF,))
    _declare(frame_folders, fps=8)
    first = run_plan(plan, tmp_path / "run")
    at_source_rate = _rows(tmp_path / "run", plan.run_id)
    assert first.generated == 2 and all(v == pytest.approx(1.0) for _, v, _ in at_source_rate.values())
    _declare(frame_folders, fps=24)
    again = run_plan(plan, tmp_path / "run")
    assert (again.generated, again.generations_cached) == (2, 0)
    fresh = run_plan(plan, tmp_path / "fresh")
    assert fresh.generated == 2
    assert _rows(tmp_path / "run", plan.run_id) == _rows(tmp_path / "fresh", plan.run_id)
    rerun = _rows(tmp_path / "run", plan.run_id)
    assert all(rerun[c][1] != at_source_rate[c][1] for c in rerun)
    store = ResultsStore(tmp_path / "run")
    try:
        details = [json.loads(d)["time_alignment"] for d in store.results(plan.run_id)["details"]]
    finally:
        store.close()
    assert {(d["generated"]["fps"], len(d["generated"]["used"])) for d in details} == {(24.0, 3)}


def test_an_invalid_submission_yaml_stops_before_any_item_and_the_fix_runs_clean(frame_folders, tmp_path):
    """Defect: `fps: fast` was not validated up front; its items failed, were cached as failures
    and outlived the fix."""
    plan = Plan(SUITE, (ComponentSpec("videos", {"dir": str(frame_folders)}),), (MF,))
    _declare(frame_folders, fps="fast")
    with pytest.raises(EvalkitError, match=r"submission.yaml: fps: must be a number of frames per second, "
                                           r"got 'fast'"):
        run_plan(plan, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    _declare(frame_folders, fps=8)
    fixed = run_plan(plan, tmp_path / "run")
    assert fixed.failed == 0 and fixed.generated == 2


def test_every_submission_problem_is_listed_one_line_each(tmp_path):
    (tmp_path / "submission.yaml").write_text("fps: fast\nresolution: [480]\nsedes: [0]\n")
    with pytest.raises(EvalkitError) as err:
        GENERATORS.get("videos")(dir=str(tmp_path))
    lines = str(err.value).splitlines()
    assert lines[0].endswith("submission.yaml: 3 problem(s)") and len(lines) == 4
    assert any("unknown key 'sedes'" in line for line in lines)


def test_a_wrongly_sized_video_fails_its_item_as_the_preflight_announced(frame_folders, tmp_path):
    """Defect: the preflight listed the size mismatch, then the video was scored and averaged in."""
    a, b = (c.case_id for c in _cases())
    video = _cases()[0].source.load()
    write_video(video.with_frames(video.frames[:, :64, :80]), frame_folders / a)
    _declare(frame_folders, fps=8, resolution=[128, 160])
    notices = []
    plan = Plan(SUITE, (ComponentSpec("videos", {"dir": str(frame_folders)}),), (MF,))
    run_plan(plan, tmp_path / "run", notice=notices.append)
    assert any("is 64x80, submission.yaml declares 128x160" in n for n in notices)
    rows = _rows(tmp_path / "run", plan.run_id)
    assert rows[a][0] == "failed" and "is 64x80, submission.yaml declares 128x160" in rows[a][2]
    assert rows[b][:2] == ("ok", pytest.approx(1.0))


def test_a_relative_submission_folder(frame_folders, tmp_path, monkeypatch):
    """Regression: the confinement check once joined a relative folder twice (sub/sub/...)."""
    _declare(frame_folders, fps=8)
    monkeypatch.chdir(frame_folders.parent)
    plan = Plan(SUITE, (ComponentSpec("videos", {"dir": frame_folders.name}),), (MF,))
    assert GENERATORS.get("videos")(dir=frame_folders.name).preflight(_cases(), [0]) == []
    assert run_plan(plan, tmp_path / "run").failed == 0


def test_a_symlink_out_of_the_submission_is_refused(frame_folders, tmp_path):
    """Defect: paths built from case ids and symlinks were read wherever they pointed."""
    a, b = (c.case_id for c in _cases())
    outside = tmp_path / "secret"
    os.rename(frame_folders / a, outside)
    os.symlink(outside, frame_folders / a)
    os.symlink(frame_folders / "loop", frame_folders / "loop")     # a symlink loop: listed, no crash
    _declare(frame_folders, fps=8)
    gen = GENERATORS.get("videos")(dir=str(frame_folders))
    problems = gen.preflight(_cases(), [0])
    assert any(f"resolves to {outside.resolve()}, outside" in p for p in problems), problems
    assert any(p.endswith("loop") for p in problems)
    plan = Plan(SUITE, (ComponentSpec("videos", {"dir": str(frame_folders)}),), (MF,))
    run_plan(plan, tmp_path / "run")
    rows = _rows(tmp_path / "run", plan.run_id)
    assert rows[a][0] == "failed" and "outside" in rows[a][2] and rows[b][0] == "ok"


def test_a_case_id_leaving_its_folder_is_refused_at_manifest_load(tmp_path):
    """Defect: a manifest item id `..` was accepted; videos[dir=sub] then read sub/../secret.mp4
    (outside the submission) and scored it, and `data check` said ok."""
    video = _cases()[0].source.load()
    write_video(video, tmp_path / "data" / "clip.mp4", lossless=True)
    manifest = tmp_path / "m.yaml"
    for bad in ("..", ".hidden", "a\\\\b"):
        manifest.write_text(f"version: 1\nkind: motion-transfer\nitems:\n  - id: '{bad}'\n    source: clip.mp4\n"
                            f"    targets: [{{id: secret, prompt: a cat}}]\n")
        _load_commands()
        checked = CliRunner().invoke(app, ["data", "check", str(manifest), "--root", str(tmp_path / "data")])
        assert checked.exit_code == 1 and "cannot name a file" in checked.output, checked.output
        with pytest.raises(EvalkitError, match="cannot name a file"):
            DATASETS.get("motion-transfer")(root=str(tmp_path / "data"), manifest=str(manifest)).cases()
    for target in ("..", ".x"):
        manifest.write_text(f"version: 1\nkind: motion-transfer\nitems:\n  - id: ok\n    source: clip.mp4\n"
                            f"    targets: [{{id: '{target}', prompt: a cat}}]\n")
        with pytest.raises(EvalkitError, match="cannot name a file"):
            DATASETS.get("motion-transfer")(root=str(tmp_path / "data"), manifest=str(manifest)).cases()


@pytest.mark.parametrize("case_id", ["..", "a/../b", "/abs", "a//b", ".x", "a/.x", "a\\b", "", "c:x"])
def test_case_ids_that_would_leave_their_folder(case_id):
    from evalkit.cases import MultiShotCase

    with pytest.raises(EvalkitError, match="cannot name a file"):
        MultiShotCase(case_id, "a dog", ("a", "b"))
    assert MultiShotCase("set/0_a-b.c+d", "a dog", ("a", "b")).case_id == "set/0_a-b.c+d"
