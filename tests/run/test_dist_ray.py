"""evalkit.run.dist on a real local Ray cluster of 2 worker processes (CPU): one worker is
killed mid-run, Ray retries its shard, the retry resumes from the store, and the result equals
the single-process run."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from evalkit.registry import load_plugins
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import ResultsStore
from stored_values import stored_values


def _plan() -> Plan:
    return Plan(ComponentSpec("test-squares", {"n": 16}), (ComponentSpec("test-copy", {"sleep": 0.5}),),
                (ComponentSpec("test-brightness"),))


def _kill_a_worker_mid_run(out, run_id, killed: list) -> None:
    """Once both shards have results but the run is not done, SIGKILL shard 1's process."""
    deadline = time.time() + 120
    while time.time() < deadline and not killed:
        time.sleep(0.1)
        if not (out / "evalkit.sqlite").exists():
            continue
        store = ResultsStore(out)
        try:
            loads, done = store.loads(run_id), len(store.results(run_id))
        finally:
            store.close()
        mine = loads[loads["shard"] == "1/2"] if len(loads) else loads
        if len(mine) and 2 <= done < 12:   # results come a window (4 items) at a time
            pid = int(mine["process"].iloc[0].rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, done))


@pytest.mark.slow  # a local Ray cluster starts in ~5 s; the run takes ~15 s
def test_ray_workers_killed_mid_run_resume_to_the_single_process_result(tmp_path):
    ray = pytest.importorskip("ray")
    from evalkit.run.dist import run_plan_on_ray

    load_plugins(["plugins_for_tests"])  # as --plugin does: Ray workers load it too
    single = run_plan(_plan(), tmp_path / "single")
    out = tmp_path / "ray"
    killed: list = []
    watcher = threading.Thread(target=_kill_a_worker_mid_run, args=(out, single.run_id, killed), daemon=True)
    tests = str(Path(__file__).resolve().parents[1])  # where plugins_for_tests lives
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}})
    try:
        watcher.start()
        summaries = run_plan_on_ray(_plan(), out, num_workers=2, gpus_per_worker=0)
        watcher.join(timeout=5)
    finally:
        ray.shutdown()
    assert killed, "the run finished before a worker could be killed"
    assert len(summaries) == 2
    pd.testing.assert_series_equal(stored_values(tmp_path / "single", single.run_id), stored_values(out, single.run_id))
    store = ResultsStore(out)
    assert store.run(single.run_id)["status"] == "complete"
    store.close()
