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
    assert r["naive"]["cases"] == 1 and set(r["naive"]["per_metric_s"]) >= {"motion-fidelity", "aesthetic-quality"}
