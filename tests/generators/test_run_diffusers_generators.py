"""Every diffusers generator runs through `evalkit run` from a YAML run config (tiny Wan, CPU)."""
from __future__ import annotations

import pytest
import yaml

pytest.importorskip("diffusers")

from typer.testing import CliRunner  # noqa: E402

from evalkit.cli import _load_commands, app  # noqa: E402
from evalkit.run.store import ResultsStore  # noqa: E402

_load_commands()


def test_evalkit_run_with_vanilla_mbq_and_kv_injection(tiny_dirs, tmp_path):
    common = {"backbone": "wan2.1-1.3b", "model_path": tiny_dirs("wan"), "steps": 2, "height": 32, "width": 32}
    cfg = {
        "dataset": {"name": "synthetic", "motions": ["translation"], "num_frames": 4, "height": 32, "width": 32},
        "generators": [{"name": "vanilla", **common, "num_frames": 9},
                       {"name": "mbq", **common, "blocks": "all"},
                       {"name": "kv-injection", **common}],
        "metrics": ["runtime"],
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "runs"
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    store = ResultsStore(out)
    try:
        df = store.results(store.latest_run_id())
    finally:
        store.close()
    runtime = df[df.metric_name == "runtime"].set_index("generator")["value"]
    # the generator column may carry the non-default options: "mbq[blocks=all,...]"
    assert sorted(g.split("[")[0] for g in runtime.index) == ["kv-injection", "mbq", "vanilla"]
    assert (runtime > 0).all()
