"""evalkit.run.dist on real Ray: a multi-node cluster on one machine (ray.cluster_utils.Cluster,
each node with its own temporary folder: no path is shared between tasks but the driver's
--out), a node killed mid-run, and `evalkit run --ray local` with a worker killed mid-task whose
retry resumes its partial store. Each merged store equals the single-process run."""
from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from stored_values import stored_results, stored_values

from evalkit.registry import load_plugins
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import STORE_FILENAME, ResultsStore

TESTS = str(Path(__file__).resolve().parents[1])  # where plugins_for_tests lives
COLUMNS = ["case_id", "generator", "metric", "generation_key", "metric_key", "status", "value", "details"]


def _plan(n: int, sleep: float) -> Plan:
    return Plan(ComponentSpec("test-squares", {"n": n}), (ComponentSpec("test-copy", {"sleep": sleep}),),
                (ComponentSpec("test-brightness"),))


def _task_stores(folder: Path) -> list[Path]:
    return list(folder.glob(f"evalkit-shards/*/{STORE_FILENAME}"))


def _generations(store: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM generations").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _assert_equal_runs(single: Path, merged: Path, run_id: str) -> None:
    assert stored_results(merged, run_id)[COLUMNS].equals(stored_results(single, run_id)[COLUMNS])
    assert stored_values(merged, run_id).notna().all()
    files = [{p.relative_to(root): p.read_bytes() for p in (root / "artifacts").rglob("*.np*")}
             for root in (single, merged)]
    assert files[0] == files[1]
    store = ResultsStore(merged, readonly=True)
    try:
        assert store.run(run_id)["status"] == "complete"
    finally:
        store.close()


@pytest.mark.slow  # three nodes start in ~20 s on 2 cores; the runs, a node death and its retry ~50 s
def test_a_multi_node_cluster_with_a_node_killed_mid_run_equals_the_single_process_run(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from evalkit.run.dist import run_plan_on_ray

    load_plugins(["plugins_for_tests"])  # as --plugin does: the tasks load it too
    plan = _plan(12, 1.0)
    single = run_plan(plan, tmp_path / "single")
    path = os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])
    node_tmp = [tmp_path / f"node{i}" for i in range(3)]
    for folder in node_tmp:
        folder.mkdir()
    cluster = Cluster(initialize_head=True, head_node_args={   # the driver's node: no task runs there
        "num_cpus": 0, "include_dashboard": False, "_system_config": {
            "health_check_initial_delay_ms": 0, "health_check_period_ms": 1000, "health_check_failure_threshold": 3}})
    nodes = [cluster.add_node(num_cpus=1, env_vars={"TMPDIR": str(folder), "PYTHONPATH": path})
             for folder in node_tmp]
    killed: list[int] = []

    def kill_a_node_mid_task() -> None:
        deadline = time.time() + 180
        while time.time() < deadline:
            for k, folder in enumerate(node_tmp):
                if any(_generations(s) >= 1 for s in _task_stores(folder)):   # a task half done there
                    cluster.remove_node(nodes[k], allow_graceful=False)
                    killed.append(k)
                    return
            time.sleep(0.1)

    try:
        ray.init(address=cluster.address, log_to_driver=False)
        watcher = threading.Thread(target=kill_a_node_mid_task, daemon=True)
        watcher.start()
        summary = run_plan_on_ray(plan, tmp_path / "out", num_workers=3, gpus_per_worker=0, tasks_per_worker=2)
        watcher.join(timeout=5)
        # a metric added to the run: the tasks measure it on the stored videos, none made again
        wider = Plan(plan.dataset, plan.generators, (*plan.metrics, ComponentSpec("test-brightness", {"channel": 1})))
        topped = run_plan_on_ray(wider, tmp_path / "out", num_workers=2, gpus_per_worker=0, tasks_per_worker=2)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert killed, "the run finished before a node could be killed"
    assert summary.status == "complete" and summary.outcome.ok == 12
    assert summary.generated >= 12   # what the killed node had generated was made again elsewhere
    _assert_equal_runs(tmp_path / "single", tmp_path / "out", single.run_id)
    assert (topped.status, topped.generated, topped.generations_cached, topped.computed) == ("complete", 0, 12, 12)
    for k, folder in enumerate(node_tmp):   # each task wrote under its own node's folder only
        if k not in killed:
            assert (folder / "evalkit-shards").is_dir() and not _task_stores(folder)   # merged, removed
    assert not (tmp_path / "out" / "shards").exists() or not any((tmp_path / "out" / "shards").iterdir())


@pytest.mark.slow  # a local Ray instance starts in ~15 s on 2 cores
def test_evalkit_run_ray_local_retries_a_killed_worker_from_its_partial_store(tmp_path):
    pytest.importorskip("ray")
    # the local Ray and its workers use it (short: Ray's sockets live there, at most 107 bytes)
    node = Path(tempfile.mkdtemp(prefix="ek-node-", dir="/tmp"))
    try:
        _ray_local_run(tmp_path, node)
    finally:
        shutil.rmtree(node, ignore_errors=True)


def _ray_local_run(tmp_path: Path, node: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]),
           "TMPDIR": str(node)}
    common = [sys.executable, "-m", "evalkit.cli", "--plugin", "plugins_for_tests", "run", "test-squares[n=8]",
              "-g", "test-copy[sleep=1.5]", "-m", "test-brightness", "-q"]
    single = subprocess.run([*common, "--out", str(tmp_path / "single")], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    killed: list[int] = []

    def kill_the_worker_mid_task() -> None:
        deadline = time.time() + 180
        while time.time() < deadline and not killed:
            for store in _task_stores(node):
                if _generations(store) >= 1:   # one of its two items done, one to go
                    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
                    process, = con.execute("SELECT process FROM loads LIMIT 1").fetchone()
                    con.close()
                    os.kill(int(process.rsplit(":", 1)[1]), signal.SIGKILL)
                    killed.append(int(process.rsplit(":", 1)[1]))
                    return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_the_worker_mid_task, daemon=True)
    watcher.start()
    # one worker: 4 tasks of 2 items each, one after the other; the retry runs on the same node
    result = subprocess.run([*common, "--out", str(tmp_path / "ray"), "--ray", "local", "--workers", "1"],
                            env=env, capture_output=True, text=True, timeout=300)
    watcher.join(timeout=5)
    assert killed, f"the run finished before the worker could be killed: {result.stderr}"
    assert result.returncode == 0, result.stderr
    line = " ".join(result.stderr.split())
    generated, cached = (int(x) for x in re.search(r"(\d+) generated, (\d+) cached", line).groups())
    assert cached >= 1 and generated + cached == 8   # the retry resumed the dead worker's partial store
    assert "status complete: 8 of 8 results ok" in line
    assert result.stdout == single.stdout   # the same leaderboard
    store = ResultsStore(tmp_path / "single", readonly=True)
    run_id = store.latest_run_id()
    store.close()
    _assert_equal_runs(tmp_path / "single", tmp_path / "ray", run_id)


@pytest.mark.slow  # a local Ray instance starts in ~15 s; the doomed task dies 4 times
def test_a_task_that_dies_past_its_retries_leaves_the_others_merged_and_one_error_line(tmp_path):
    pytest.importorskip("ray")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    run = [sys.executable, "-m", "evalkit.cli", "--plugin", "plugins_for_tests", "run", "test-squares[n=4]",
           "-g", "test-crash[case=sq1]", "-m", "test-brightness", "-q", "--out", str(tmp_path / "ray"),
           "--ray", "local", "--workers", "1"]
    result = subprocess.run(run, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "ray: 1 of 4 task(s) failed past 3 retries" in errors[0], result.stderr
    assert "run partial" in errors[0] and "run the command again to resume" in errors[0]
    done = stored_results(tmp_path / "ray")
    assert sorted(done["case_id"]) == ["sq0", "sq2", "sq3"] and (done["status"] == "ok").all()
