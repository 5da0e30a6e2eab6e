"""``evalkit run --devices``: one worker process per device (CPU processes stand in for GPUs),
work split by cost, one store; a worker killed mid-run hands its unfinished items to the
others; a run killed as a whole is resumed by running the command again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from stored_values import stored_values

from evalkit.errors import EvalkitError
from evalkit.registry import load_plugins
from evalkit.run import workers
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import ResultsStore
from evalkit.run.workers import group_by_case, order_by_cost, parse_devices, run_plan_on_devices

TESTS = Path(__file__).resolve().parents[1]


def _plan(n=6, sleep=0.0) -> Plan:
    return Plan(ComponentSpec("test-squares", {"n": n}), (ComponentSpec("test-copy", {"sleep": sleep}),
                                                         ComponentSpec("test-copy", {"brighten": 20})),
                (ComponentSpec("test-brightness"),))


def test_devices_are_parsed_and_checked(monkeypatch):
    assert parse_devices("cpu,cpu") == ["cpu", "cpu"]
    monkeypatch.setattr(workers, "cuda_devices", lambda: 0)
    with pytest.raises(EvalkitError, match="--devices all: no CUDA device"):
        parse_devices("all")
    with pytest.raises(EvalkitError, match="this machine has 0 CUDA device"):
        parse_devices("cuda:0")
    monkeypatch.setattr(workers, "cuda_devices", lambda: 2)
    assert parse_devices("all") == ["cuda:0", "cuda:1"] and parse_devices(" cuda:1 ,cpu") == ["cuda:1", "cpu"]
    with pytest.raises(EvalkitError, match="named twice"):
        parse_devices("cuda:0,cuda:0")
    with pytest.raises(EvalkitError, match="'gpu' is not cuda:N or cpu"):
        parse_devices("gpu")


def test_work_is_grouped_by_case_and_handed_out_heaviest_first():
    groups = group_by_case(["a", "b", "a", "c", "b"])
    assert groups == [[0, 2], [1, 4], [3]]
    assert [g for g, _ in order_by_cost(groups, [1, 50, 1, 3, 5])] == [[1, 4], [3], [0, 2]]


def test_item_costs_follow_what_the_store_holds(tmp_path):
    load_plugins(["plugins_for_tests"])
    p = _plan(n=2)
    ids, costs = workers.item_costs(p, tmp_path)
    assert ids == ["sq0", "sq0", "sq1", "sq1"] and costs == [2.0] * 4  # a reference generation + a CPU metric
    run_plan(p, tmp_path, shard=(0, 2))
    _, costs = workers.item_costs(p, tmp_path)
    assert costs == [workers.CACHED, 2.0, workers.CACHED, 2.0]


def test_two_cpu_workers_equal_one_process(tmp_path):
    load_plugins(["plugins_for_tests"])
    single = run_plan(_plan(sleep=0.25), tmp_path / "single")
    lines: list[str] = []
    summary = run_plan_on_devices(_plan(sleep=0.25), tmp_path / "two", ["cpu", "cpu"], notice=lines.append)
    assert summary.outcome.status == "complete" and not summary.dead_workers
    assert summary.generated == 12 and summary.computed == 12
    assert [line.split(",")[0] for line in lines] == ["worker 0: cpu", "worker 1: cpu"]
    pd.testing.assert_series_equal(stored_values(tmp_path / "single", single.run_id),
                                   stored_values(tmp_path / "two", single.run_id))
    store = ResultsStore(tmp_path / "two")
    assert set(store.loads(single.run_id)["shard"]) == {"0/2", "1/2"}  # both workers did work
    store.close()


def _cli(out: Path, sleep: float = 0.3, n: int = 8) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "evalkit.cli", "--plugin", "plugins_for_tests", "run",
                             f"test-squares[n={n}]", "-g", f"test-copy[sleep={sleep}]", "-m", "test-brightness", "-q",
                             "--out", str(out), "--devices", "cpu,cpu"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.mark.slow  # spawned workers, a kill, and the rest of the run (~20 s)
def test_a_worker_killed_mid_run_hands_its_items_to_the_other(tmp_path):
    proc = _cli(tmp_path / "out", sleep=0.6, n=16)
    pids = []
    while len(pids) < 2:
        line = proc.stderr.readline()
        assert line, proc.communicate()
        if line.startswith("worker ") and "pid" in line:
            pids.append(int(line.rsplit("pid", 1)[1]))
    _wait_for_results(tmp_path / "out", 1, 9)   # both are working, the run is not done
    os.kill(pids[1], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    requeued = int(err.split("died (exit code -9); ")[1].split(" unfinished")[0])
    assert requeued >= 1 and "worker on cpu died" in err and "status complete" in err
    load_plugins(["plugins_for_tests"])
    reference = run_plan(Plan(ComponentSpec("test-squares", {"n": 16}), (ComponentSpec("test-copy", {"sleep": 0.6}),),
                              (ComponentSpec("test-brightness"),)), tmp_path / "ref")
    pd.testing.assert_series_equal(stored_values(tmp_path / "ref", reference.run_id),
                                   stored_values(tmp_path / "out", reference.run_id))


def _wait_for_results(out: Path, low: int, high: int) -> None:
    """Until the store holds between ``low`` and ``high`` result rows (the run is under way)."""
    deadline, done = time.time() + 120, 0
    while time.time() < deadline and not low <= done < high:
        time.sleep(0.1)
        if (out / "evalkit.sqlite").is_file():
            store = ResultsStore(out, readonly=True)
            done = len(store.results())
            store.close()
    assert low <= done < high


@pytest.mark.slow  # a whole run killed, then resumed (~25 s)
def test_a_killed_run_resumes_when_run_again(tmp_path):
    # 16 items of 1 s on two workers: results arrive a window at a time, so under load the
    # store can jump by several rows; the kill must land before the last ones
    proc = _cli(tmp_path / "out", sleep=1.0, n=16)
    _wait_for_results(tmp_path / "out", 1, 16)   # kill it mid-run
    os.killpg(proc.pid, signal.SIGKILL)   # the command and its workers
    proc.wait()
    again = _cli(tmp_path / "out", sleep=1.0, n=16)
    _, err = again.communicate(timeout=180)
    assert again.returncode == 0 and "status complete" in err, err
    cached = int(err.split(" generated, ")[1].split(" cached")[0])
    assert cached > 0  # what the killed run finished was not redone


def test_devices_excludes_shard_and_device():
    from typer.testing import CliRunner

    from evalkit.cli import _load_commands, app

    _load_commands()
    out = CliRunner().invoke(app, ["run", "synthetic", "--devices", "cpu,cpu", "--shard", "0/2"])
    assert out.exit_code == 2 and "--devices starts its own workers" in out.output


def test_each_worker_gets_its_share_of_the_cores():
    """Two workers on a 2n-core machine run torch and OpenCV with n threads each, not 2n each."""
    pytest.importorskip("torch")
    pytest.importorskip("cv2")
    code = ("import os, torch, cv2\n"
            "from evalkit.run.workers import share_cpu_threads\n"
            "n = share_cpu_threads(2)\n"
            "print(n, torch.get_num_threads(), cv2.getNumThreads(), max(1, os.cpu_count() // 2))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    n, torch_threads, cv2_threads, expected = map(int, out.stdout.split())
    assert n == torch_threads == cv2_threads == expected
