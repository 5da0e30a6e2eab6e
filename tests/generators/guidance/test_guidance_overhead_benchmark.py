"""benchmarks/overhead_guidance.py on its CPU path (tiny architectures of the real classes)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "overhead_guidance.py"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("group,models,methods", [
    ("dit", "cogvideox-5b", "vanilla,ditflow,ditflow-rho,smm,moft,motionclone"),
    ("unet", "zeroscope", "vanilla,motionclone,dmt"),
    ("unet", "animatediff", "vanilla,motionclone")])
def test_overhead_benchmark_smoke(tmp_path, group, models, methods):
    out = tmp_path / f"{group}.json"
    res = subprocess.run([sys.executable, str(BENCH), "--tiny", "--device", "cpu", "--group", group,
                          "--models", models, "--methods", methods, "--steps", "3", "--out", str(out)],
                         capture_output=True, text=True, cwd=str(BENCH.parents[1]))
    assert res.returncode == 0, res.stderr[-3000:]
    run = json.loads(out.read_text())["runs"][0]
    assert "error" not in run, run
    got = run["methods"]
    assert list(got) == methods.split(",")
    assert got["vanilla"]["overhead"] == pytest.approx(1.0)
    for label, m in got.items():
        if label != "vanilla":
            assert m["timings"]["optimization"] > 0 and m["overhead"] > 0 and m["guided_steps"] >= 1, label
            assert set(m["timings"]) == {"inversion", "optimization", "inference"}
