"""benchmarks/overhead_storyboard.py on its CPU path (tiny U-Net, random weights, CLIPSeg by hub id)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "overhead_storyboard.py"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["zeroscope", "videocrafter2"])
def test_storyboard_overhead_benchmark_runs_tiny_on_cpu(tmp_path, model):
    spec = importlib.util.spec_from_file_location("overhead_storyboard", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "sb.json"
    res = bench.main(["--tiny", "--device", "cpu", "--models", model, "--shots", "2", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    run = res["runs"][0]
    assert "error" not in run, run
    assert run["model"] == model and run["shots"] == 2 and run["steps"] == 5
    pair = run["pairs"][0]
    assert set(pair["vanilla"]["timings"]) == {"inference"}
    assert set(pair["storyboard"]["timings"]) == {"inversion", "inference"}
    assert set(pair["storyboard"]["passes_s"]) == {"vanilla_pass", "dift_pass"}
    assert pair["overhead"] > 1 and pair["storyboard"]["sdsa_calls"] > 0 and pair["storyboard"]["refined_calls"] > 0
