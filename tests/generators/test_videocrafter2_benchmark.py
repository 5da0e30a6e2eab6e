"""benchmarks/overhead_videocrafter2.py on its CPU path (tiny VideoCrafter2 / T2V-Turbo-v2, random weights)."""
from __future__ import annotations

import importlib.util
from argparse import Namespace
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "overhead_videocrafter2.py"


@pytest.mark.slow
@pytest.mark.parametrize("model,injected", [("videocrafter2", 2), ("t2v-turbo-v2", 1)])
def test_overhead_benchmark_runs_with_the_generator_api(model, injected):
    spec = importlib.util.spec_from_file_location("overhead_videocrafter2", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.bench(model, Namespace(device="cpu", tiny=True, steps=0, frames=0, height=320, width=512, repeats=2))
    pair = res["pairs"][0]
    assert res["num_frames"] == 4 and pair["mbq"]["injected_steps"] == injected   # 40 % of 4 / 2 steps
    assert pair["mbq"]["recorded_tensors"] == 7 * injected and pair["overhead"] > 0 and res["vae_decode_s"] > 0
    assert set(pair["vanilla"]["timings"]) == {"inference"}
    assert set(pair["mbq"]["timings"]) == {"inversion", "inference"}
    # the second seed is served from the recording cache: a k-seed run pays one recording
    assert pair["recorded_here"] and not res["pairs"][1]["recorded_here"] and res["k_seeds"] == 2
    assert res["overhead_first_video"] == pair["overhead"] > res["overhead_recording_cached"]
