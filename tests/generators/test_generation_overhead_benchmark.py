"""benchmarks/generation_overhead.py on its CPU path (tiny full-depth Wan/CogVideoX, random weights)."""
from __future__ import annotations

import importlib.util
from argparse import Namespace
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "generation_overhead.py"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["wan2.1-1.3b", "cogvideox-2b"])
def test_overhead_benchmark_runs_with_the_generator_api(model):
    spec = importlib.util.spec_from_file_location("generation_overhead", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.bench(model, Namespace(device="cpu", tiny=True, steps=2, wan_source_frames=4, repeats=1))
    pair = res["pairs"][0]
    assert res["num_frames"] == 9 and pair["mbq"]["injected_steps"] == 1  # 0.6 × 2 steps, rounded
    assert pair["mbq"]["recorded_tensors"] > 0 and pair["overhead"] > 0
    assert set(pair["vanilla"]["timings"]) == {"inference"}
    assert set(pair["mbq"]["timings"]) == {"inversion", "inference"}
