"""`evalkit score` on mp4 files and frame folders, through the registered metrics."""
from __future__ import annotations

import json

import numpy as np
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
    assert any("resized 64x80 -> 128x160" in n for n in out["notes"]) and out["evalkit_version"]
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


def test_score_accepts_a_dit_pair_and_aligns_it_by_time(tmp_path):
    """Motion by Queries App. A.1.1: N source frames at f fps -> 2N+1 frames at 2f fps
    (each frame twice, the last once more). Same motion; truncation halved it."""
    pan = render(SyntheticSpec("pan", num_frames=7)).video
    src = pan.with_frames(pan.frames[np.r_[0:7, 5:-1:-1]])               # there and back: 13 frames
    gen = src.with_frames(src.frames[np.r_[np.repeat(np.arange(13), 2), 12]], fps=16.0)
    res = runner.invoke(app, ["score", "motion-fidelity", "-s", str(write_video(src, tmp_path / "src.mp4")),
                              "-g", str(write_video(gen, tmp_path / "gen.mp4")), "--backend", "klt",
                              "-o", "grid_size=12", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["inputs"]["generated"]["fps"] == 16.0 and out["inputs"]["generated"]["frames"] == 27
    assert out["value"] >= 0.95
    assert out["details"]["time_alignment"]["generated"]["used"] == list(range(0, 26, 2))
    # frame folders carry no fps: --fps for the generated video, --source-fps for the source
    folders = ["-s", str(write_video(src, tmp_path / "src")), "-g", str(write_video(gen, tmp_path / "gen"))]
    res = runner.invoke(app, ["score", "motion-fidelity", *folders, "--fps", "16", "--source-fps", "8",
                              "--backend", "klt", "-o", "grid_size=12", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["value"] >= 0.95, res.output


def test_score_requires_exactly_the_inputs_the_spec_lists(tmp_path):
    clip = _write(tmp_path, "translation", "clip.mp4")
    # temporal flicker reads the generated video alone (it used to demand --source)
    res = runner.invoke(app, ["score", "temporal-flicker", "-g", str(clip), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert 0.9 < out["value"] < 1.0 and set(out["inputs"]) == {"generated"}
    for args, message in [
        (["temporal-flicker", "-g", str(clip), "-s", str(clip)], "does not read --source"),
        (["motion-fidelity", "-g", str(clip), "--backend", "klt"], "needs --source"),
        (["motion-fidelity", "-g", str(clip), "-s", str(clip), "--backend", "klt", "--mask", str(clip)],
         "does not read --mask"),
        (["motion-fidelity", "-g", str(clip), "-s", str(clip), "--backend", "klt", "-o", "use_mask=true"],
         "needs --mask"),
        (["clip-text", "-g", str(clip)], "needs --prompt"),
        (["clip-i", "-g", str(clip)], "needs --reference"),
        (["set-consistency", "-g", str(clip), "--subject", "a disc"], "needs --generated (once per shot"),
        (["set-consistency", "-g", str(clip), "-g", str(clip)], "needs --subject"),
        (["identity-leakage", "-g", str(clip), "-g", str(clip), "-s", str(clip)], "pass --generated once"),
        (["runtime", "-g", str(clip)], "only `evalkit run` records"),
    ]:
        res = runner.invoke(app, ["score", *args])
        assert res.exit_code == 2 and message in res.output, (args, res.output)


def test_score_a_multi_shot_set_per_shot(tmp_path):
    shots = [_write(tmp_path, m, f"{m}.mp4") for m in ("fast", "static", "fast")]
    res = runner.invoke(app, ["score", "dynamic-degree", *sum((["-g", str(s)] for s in shots), []),
                              "--backend", "dis", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["details"]["per_video"] == [1.0, 0.0, 1.0] and abs(out["value"] - 2 / 3) < 1e-12
    assert [s["frames"] for s in out["inputs"]["shots"]] == [10, 10, 10]


def test_score_never_decodes_an_input_the_metric_does_not_read(tmp_path, monkeypatch):
    """Defect: `score` decoded a source that the metric does not use (memory for nothing)."""
    import evalkit.video

    src = _write(tmp_path, "pan", "src.mp4")
    gen = _write(tmp_path, "pan", "gen.mp4")
    decoded = []
    real = evalkit.video.read_video
    monkeypatch.setattr(evalkit.video, "read_video", lambda p, **kw: decoded.append(str(p)) or real(p, **kw))
    res = runner.invoke(app, ["score", "temporal-flicker", "--generated", str(gen), "--source", str(src)])
    assert res.exit_code == 2 and "does not read --source" in res.output
    assert decoded == []
    ok = runner.invoke(app, ["score", "temporal-flicker", "--generated", str(gen)])
    assert ok.exit_code == 0 and decoded == [str(gen)]
