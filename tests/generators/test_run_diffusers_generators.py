"""Every diffusers generator runs through `evalkit run` from a YAML run config (tiny Wan, CPU)."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")

from cli_runs import run_config  # noqa: E402


def test_evalkit_run_with_vanilla_mbq_and_kv_injection(tiny_dirs, tmp_path):
    common = {"backbone": "wan2.1-1.3b", "model_path": tiny_dirs("wan"), "steps": 2, "height": 32, "width": 32}
    cfg = {
        "dataset": {"name": "synthetic", "motions": ["translation"], "num_frames": 4, "height": 32, "width": 32},
        "generators": [{"name": "vanilla", **common, "num_frames": 9},
                       {"name": "mbq", **common, "blocks": "all"},
                       {"name": "kv-injection", **common}],
        "metrics": ["runtime"],
    }
    _, df = run_config(tmp_path, cfg)
    runtime = df[df.metric_name == "runtime"].set_index("generator")["value"]
    # the generator column may carry the non-default options: "mbq[blocks=all,...]"
    assert sorted(g.split("[")[0] for g in runtime.index) == ["kv-injection", "mbq", "vanilla"]
    assert (runtime > 0).all()
