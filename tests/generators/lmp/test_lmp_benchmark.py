"""benchmarks/overhead_lmp.py on its CPU path (tiny CogVideoX with rotary positions, random weights)."""
from __future__ import annotations

import importlib.util
import sys
from argparse import Namespace
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "overhead_lmp.py"


@pytest.mark.slow
def test_lmp_overhead_benchmark_runs_with_the_generator_api():
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("overhead_lmp", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.bench(Namespace(device="cpu", tiny=True, steps=3, frames=4, repeats=1))
    r = res["rounds"][0]
    assert res["num_frames"] == 9 and res["windows"] == {"fbdm_steps": 2, "rmtm_steps": 3, "asm_steps": 2}
    assert set(r["vanilla"]["timings"]) == {"inference"}
    assert set(r["lmp_no_asm"]["timings"]) == {"inversion", "inference"}
    assert set(r["lmp"]["timings"]) == {"inversion", "optimization", "inference"}
    assert r["lmp"]["overhead"] > r["lmp_no_asm"]["overhead"] > 0
