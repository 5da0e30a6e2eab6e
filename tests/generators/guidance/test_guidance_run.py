"""Every guidance method runs through `evalkit run` (synthetic suite, tiny pipelines saved to a
temporary folder and given as model_path)."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")

from cli_runs import run_config  # noqa: E402


@pytest.mark.slow
def test_evalkit_run_with_every_guidance_method(tiny_dirs, tmp_path):
    fast = {"steps": 2, "guidance_fraction": 0.5, "opt_steps": 2}
    dit = {"backbone": "cogvideox-5b", "model_path": tiny_dirs("cogvideox"), "height": 48, "width": 48,
           "blocks": 1, **fast}
    unet = {"backbone": "zeroscope", "model_path": tiny_dirs("unet"), "height": 32, "width": 32, **fast}
    cfg = {
        "dataset": {"name": "synthetic", "motions": ["translation"], "num_frames": 9, "height": 48, "width": 48},
        "generators": [{"name": "ditflow", **dit}, {"name": "ditflow", **dit, "optimise": "positional"},
                       {"name": "smm", **dit}, {"name": "moft", **dit}, {"name": "motionclone", **dit},
                       {"name": "motionclone", **unet, "warm_up_steps": 1, "cool_down_steps": 1},
                       {"name": "dmt", **unet, "inversion_steps": 10}],
        "metrics": ["runtime"],
    }
    _, df = run_config(tmp_path, cfg)
    runtime = df[df.metric_name == "runtime"]
    assert (runtime["status"] == "ok").all(), runtime[["generator", "error"]].to_string()
    assert sorted(g.split("[")[0] for g in runtime["generator"]) == [
        "ditflow", "ditflow", "dmt", "moft", "motionclone", "motionclone", "smm"]
    assert (runtime["value"] > 0).all()
