"""The Ray driver's parts that need no Ray: packing items into tasks, the seed store a task
begins from, the task stores an interrupted driver left, and the CLI's cluster flags."""
from __future__ import annotations

import shutil

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
from cli_errors import one_error_line
from stored_values import stored_values

from evalkit.cli import _load_commands
from evalkit.run import dist
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.workers import group_by_case, item_work

_load_commands()


def _plan(*metrics: ComponentSpec) -> Plan:
    return Plan(ComponentSpec("test-squares", {"n": 4}), (ComponentSpec("test-copy"),),
                metrics or (ComponentSpec("test-brightness"),), seeds=(0, 1))


def test_tasks_keep_case_groups_whole_and_balance_their_cost():
    case_ids = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"]
    costs = [5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    tasks = dist.pack_tasks(group_by_case(case_ids), costs, list(range(10)), count=3)
    assert sorted(i for t in tasks for i in t) == list(range(10))
    assert all({case_ids[i] for i in t} for t in tasks)
    for t in tasks:   # a case's items in one task only
        assert all(case_ids.count(case_ids[i]) == sum(case_ids[j] == case_ids[i] for j in t) for i in t)
    assert sorted(sum(costs[i] for i in t) for t in tasks) == [4.0, 4.0, 10.0]
    assert dist.pack_tasks(group_by_case(case_ids), costs, [2, 3], count=3) == [[2, 3]]   # only what is pending
    assert dist.task_name(_plan(), [2, 3]) == dist.task_name(_plan(), [2, 3]) != dist.task_name(_plan(), [2])


def test_a_task_begins_from_the_generations_and_values_the_store_holds(tmp_path):
    run_plan(_plan(), tmp_path / "out")
    wider = _plan(ComponentSpec("test-brightness"), ComponentSpec("test-brightness", {"channel": 1}))
    work = item_work(wider, tmp_path / "out")
    assert all(w.held_generation and len(w.held_values) == 1 for w in work)
    seed = dist.seed_store(tmp_path / "out", [w.held_generation for w in work], [k for w in work for k in w.held_values])
    dist._unpack(seed, tmp_path / "task")
    part = run_plan(wider, tmp_path / "task", work=iter(range(len(work))))
    assert (part.generated, part.generations_cached, part.computed, part.metrics_cached) == (0, 8, 8, 8)
    assert dist.seed_store(tmp_path / "out", [], []) is None


def test_task_stores_an_interrupted_driver_received_are_merged_first(tmp_path):
    single = run_plan(_plan(), tmp_path / "single")
    received = tmp_path / "out" / "shards" / f"{dist.RECEIVED}{single.run_id}-1"
    shutil.copytree(tmp_path / "single", received)
    said: list[str] = []
    dist._merge_received(tmp_path / "out", "strict", said.append)
    assert not received.exists() and said == ["merged 1 task store(s) an interrupted run had received"]
    assert stored_values(tmp_path / "out", single.run_id).equals(stored_values(tmp_path / "single", single.run_id))




def test_cluster_flags_are_checked_before_anything_runs(tmp_path):
    run = ["--plugin", "plugins_for_tests", "run", "test-squares", "--out", str(tmp_path / "out")]
    assert "go with --ray" in one_error_line([*run, "--workers", "4"])
    assert "give it without --shard or --devices" in one_error_line([*run, "--ray", "local", "--shard", "0/2"])
    assert "--shard-store 'nfs'" in one_error_line([*run, "--shard", "0/2", "--shard-store", "nfs"])
    assert not (tmp_path / "out").exists()
