"""benchmarks/overhead_vwarper.py on its CPU path (tiny CogVideoX + T5, random weights)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402,F401  (makes torchvision importable, which peft needs)

pytest.importorskip("peft")

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_vwarper_benchmark_smoke(tmp_path):
    out = tmp_path / "vwarper.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "EVALKIT_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "overhead_vwarper.py"), "--tiny", "--device",
                           "cpu", "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["training"]["rank"] == 4 and res["training"]["step_s_median"] > 0
    inf = res["inference"]
    assert set(inf["base"]["timings"]) >= {"inference"} and inf["vwarper"]["timings"]["inversion"] > 0
    assert inf["vwarper_over_base"] > 1 and inf["coarse_over_base"] > 0
