"""benchmarks/stack_sampler.py: the main thread's wall time by function, waits in C included,
other threads not seen."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SAMPLER = Path(__file__).resolve().parents[1] / "benchmarks" / "stack_sampler.py"


def test_the_main_threads_wall_time_is_split_by_function_and_other_threads_are_not_seen(tmp_path):
    (tmp_path / "workload.py").write_text(textwrap.dedent('''
        import sys
        import threading
        import time

        def other_thread_spin(stop):
            while not stop.is_set():
                pass

        def blocked_in_c():
            time.sleep(0.6)          # a wait in C: charged to this line's function

        def python_spin():
            t = time.perf_counter()
            while time.perf_counter() - t < 0.6:
                pass

        stop = threading.Event()
        helper = threading.Thread(target=other_thread_spin, args=(stop,))
        helper.start()
        blocked_in_c()
        python_spin()
        stop.set()
        helper.join()
        sys.exit(3)
    '''))
    out = tmp_path / "prof.json"
    proc = subprocess.run([sys.executable, str(SAMPLER), "--out", str(out), "--interval-ms", "2", "-m", "workload",
                           "an-argument"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert proc.returncode == 3, proc.stderr   # the module's exit code is kept
    r = json.loads(out.read_text())
    own = {name.split("(")[-1].rstrip(")"): share for name, share in r["self"].items()}
    assert own["blocked_in_c"] == pytest.approx(0.5, abs=0.15)
    assert own["python_spin"] == pytest.approx(0.5, abs=0.15)
    assert not any("other_thread_spin" in name for name in r["total"])
    assert r["samples"] > 30 and r["seconds"] == pytest.approx(1.2, abs=0.3)
    assert all(line.rsplit(" ", 1)[1].isdigit() for line in r["collapsed"])   # stack, microseconds
