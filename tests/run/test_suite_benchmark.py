"""benchmarks/suite_throughput.py's CPU smoke run (--tiny): the suite through `evalkit run
--devices cpu,cpu` with tiny models, then the naive loop; what the GPU run reports."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "suite_throughput.py"


@pytest.mark.slow  # installs tiny models, spawns two workers (~30 s)
def test_suite_benchmark_tiny(tmp_path):
    pytest.importorskip("torch")
    if importlib.util.find_spec("open_clip") is None:  # its BPE vocabulary builds the CLIP tokenizer
        pytest.skip("open_clip is not installed")
    out = tmp_path / "suite.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--tiny", "--out", str(out)],
                          check=False, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    (run,) = r["runs"]
    assert run["devices"] == "cpu,cpu" and "status complete: 45 of 45 results ok" in run["stderr_tail"]
    naive = r["naive"]
    assert naive["cases"] == 1 and set(naive["per_metric_s"]) >= {"motion-fidelity", "aesthetic-quality"}
    # the models are loaded once, outside the timed cases, and counted once in the extrapolation
    assert naive["load_s"] > 0
    assert naive["extrapolated_s"] == pytest.approx(naive["load_s"] + naive["seconds_per_case"] * r["cases"])
    # the workers' load lines name the metrics' model loads (the fixed start of each process)
    assert len(run["load_lines"]) == 1 and "[float32]" in run["load_lines"][0], run["load_lines"]
    assert len(run["device_thread"]) == 1 and "waiting for preparation" in run["device_thread"][0]


def test_gpu_sampler_splits_the_fixed_start_from_the_pipelines_idle_time():
    spec = importlib.util.spec_from_file_location("suite_throughput", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sampler = bench.GpuSampler()
    sampler.samples[0] = [0.0, 0.0, 0.0, 1.0, 0.5, 1.0, 0.5]
    sampler.times[0] = [0.1 * (i + 1) for i in range(7)]
    assert sampler.busy(0) == pytest.approx(3.0 / 7)
    assert sampler.first_kernel(0) == pytest.approx(0.4)
    assert sampler.busy_after_first_kernel(0) == pytest.approx(0.75)
    assert sampler.first_kernel(1) is None and sampler.busy_after_first_kernel(1) is None
