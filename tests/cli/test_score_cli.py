"""`evalkit score` on mp4 files and frame folders, through the registered metrics."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.synthetic import SyntheticSpec, render
from evalkit.video import write_video

_load_commands()
runner = CliRunner()


def _write(tmp_path, motion, name, **kw):
    return write_video(render(SyntheticSpec(motion, num_frames=10, **kw)).video, tmp_path / name)


def test_score_motion_fidelity_mp4_and_folder_with_provenance(tmp_path):
    src = _write(tmp_path, "pan", "src.mp4")
    folder = _write(tmp_path, "pan", "gen", height=64, width=80)   # a frame folder, other size
    res = runner.invoke(app, ["score", "motion-fidelity", "--source", str(src), "--generated", str(folder),
                              "--backend", "klt", "-o", "grid_size=12", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["metric"] == "motion-fidelity" and out["backend"] == "klt" and out["weights"] == "weight-free"
    assert out["config"]["variant"] == "symmetric" and out["config"]["grid_size"] == 12
    assert out["inputs"]["source"]["digest"] and out["inputs"]["generated"]["size"] == [64, 80]
    assert any("resized from 64x80" in n for n in out["notes"]) and out["evalkit_version"]
    assert out["value"] > 0.9                                        # same pan, other resolution
    plain = runner.invoke(app, ["score", "motion-fidelity", "-s", str(src), "-g", str(src), "--backend", "klt",
                                "--variant", "dmt_official", "-o", "grid_size=12"])
    assert plain.exit_code == 0 and plain.stdout.startswith("motion-fidelity[klt,grid_size=12,variant=dmt_official]:")


def test_score_dynamic_degree_takes_only_generated(tmp_path):
    fast = _write(tmp_path, "fast", "fast.mp4")
    res = runner.invoke(app, ["score", "dynamic-degree", "--generated", str(fast), "--backend", "dis", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["value"] == 1.0 and out["boolean"] and "source" not in out["inputs"]
    assert len(out["details"]["pair_scores"]) == 9
    bad = runner.invoke(app, ["score", "dynamic-degree", "-g", str(fast), "-s", str(fast), "--backend", "dis"])
    assert bad.exit_code == 2 and "drop --source" in bad.output


def test_score_errors_are_one_line(tmp_path):
    res = runner.invoke(app, ["score", "motion-fidelty", "-g", str(tmp_path)])
    assert res.exit_code == 2 and "did you mean motion-fidelity" in res.output
    res = runner.invoke(app, ["score", "motion-fidelity", "-g", str(tmp_path / "missing.mp4"), "-s",
                              str(tmp_path / "missing.mp4"), "--backend", "klt"])
    assert res.exit_code == 2 and "no such file" in res.output
