"""Runner + store: caching, invalidation, failures recorded per item, resume after SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import plugins_for_tests  # noqa: F401  (registers test-* plugins)
from stored_values import stored_values

from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import ResultsStore

HERE = Path(__file__).resolve().parent.parent  # tests/ (plugins_for_tests)


def plan(gen_opts=None, metric_opts=None, **dataset_opts) -> Plan:
    return Plan(ComponentSpec("test-squares", dataset_opts), (ComponentSpec("test-copy", gen_opts or {}),),
                (ComponentSpec("test-brightness", metric_opts or {}),))


def test_second_run_recomputes_nothing(tmp_path):
    first = run_plan(plan(), tmp_path)
    assert (first.generated, first.computed) == (3, 3)
    again = run_plan(plan(), tmp_path)
    assert again.recomputed_nothing and again.metrics_cached == 3 and again.run_id == first.run_id
    assert stored_values(tmp_path, first.run_id).notna().all()


def test_cache_invalidates_on_each_input(tmp_path):
    run_plan(plan(), tmp_path)
    s = run_plan(plan(gen_opts={"brighten": 10}), tmp_path)  # generator config
    assert (s.generated, s.computed) == (3, 3)
    s = run_plan(plan(metric_opts={"channel": 1}), tmp_path)  # metric config
    assert (s.generated, s.computed) == (0, 3)
    s = run_plan(plan(shift=1), tmp_path)  # case content
    assert s.generated == 3
    s = run_plan(Plan(plan().dataset, plan().generators, plan().metrics, seeds=(1,)), tmp_path)  # seed
    assert (s.generated, s.computed) == (3, 3)


def test_failures_are_recorded_and_the_rest_completes(tmp_path):
    truncated = tmp_path / "bad.mp4"
    truncated.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    p = Plan(ComponentSpec("test-squares", {"missing": str(truncated)}), (ComponentSpec("test-copy"),),
             (ComponentSpec("test-brightness"), ComponentSpec("test-nan")))
    s = run_plan(p, tmp_path / "out")
    store = ResultsStore(tmp_path / "out")
    df = store.results(s.run_id).set_index(["case_id", "metric"])
    store.close()
    assert df.loc[("missing", "test-brightness"), "status"] == "failed"
    assert "bad.mp4" in df.loc[("missing", "test-brightness"), "error"]
    assert df.loc[("sq0", "test-nan"), "status"] == "failed"
    assert "non-finite" in df.loc[("sq0", "test-nan"), "error"]
    ok = df.xs("test-brightness", level="metric").drop("missing")
    assert (ok["status"] == "ok").all() and ok["value"].notna().all()
    # failures are cached too (deterministic), unless asked to retry
    assert run_plan(p, tmp_path / "out").recomputed_nothing
    assert run_plan(p, tmp_path / "out", retry_failed=True).computed == 3


def _runner_process(out: Path, counter: Path) -> subprocess.Popen:
    code = ("import sys; sys.path.insert(0, %r); import plugins_for_tests; "
            "from evalkit.run.plan import Plan, ComponentSpec; from evalkit.run.runner import run_plan; "
            "run_plan(Plan(ComponentSpec('test-squares', {'n': 12}), "
            "(ComponentSpec('test-copy', {'sleep': 0.15}),), (ComponentSpec('test-brightness'),)), %r)"
            % (str(HERE), str(out)))
    env = {**os.environ, "EVALKIT_TEST_COUNTER": str(counter)}
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def test_resume_after_sigkill_gives_the_same_numbers(tmp_path):
    reference = run_plan(Plan(ComponentSpec("test-squares", {"n": 12}), (ComponentSpec("test-copy", {"sleep": 0.15}),),
                              (ComponentSpec("test-brightness"),)), tmp_path / "ref")
    counter = tmp_path / "count"
    for delay in (1.2, 0.9):  # kill twice at arbitrary points
        proc = _runner_process(tmp_path / "killed", counter)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = _runner_process(tmp_path / "killed", counter)
    assert proc.wait(timeout=120) == 0
    pd.testing.assert_series_equal(stored_values(tmp_path / "ref", reference.run_id),
                                   stored_values(tmp_path / "killed", reference.run_id))
    generated = len(counter.read_text().split())
    assert generated <= 12 + 2, f"resume recomputed finished items ({generated} generations for 12)"
    store = ResultsStore(tmp_path / "killed")
    assert store.run(reference.run_id)["status"] == "complete"
    store.close()


def test_shards_together_equal_one_run(tmp_path):
    p = plan(n=5)
    whole = run_plan(p, tmp_path / "whole")
    first = run_plan(p, tmp_path / "sharded", shard=(0, 2))
    second = run_plan(p, tmp_path / "sharded", shard=(1, 2))
    assert (first.generated, second.generated) == (3, 2)
    pd.testing.assert_series_equal(stored_values(tmp_path / "whole", whole.run_id),
                                   stored_values(tmp_path / "sharded", whole.run_id))
    store = ResultsStore(tmp_path / "sharded")
    assert store.run(whole.run_id)["status"] == "complete"
    store.close()


def test_two_configs_of_one_generator_are_kept_apart(tmp_path):
    p = Plan(ComponentSpec("test-squares"), (ComponentSpec("test-copy"), ComponentSpec("test-copy", {"brighten": 30})),
             (ComponentSpec("test-brightness"),))
    s = run_plan(p, tmp_path)
    v = stored_values(tmp_path, s.run_id)
    assert set(v.index.get_level_values("generator")) == {"test-copy", "test-copy[brighten=30]"}
    assert (v.xs("test-copy[brighten=30]", level="generator") > v.xs("test-copy", level="generator")).all()


def test_metric_key_follows_the_weights_on_disk(tmp_path, monkeypatch):
    """Random-weight test models and real weights under one hub id must not share values."""
    from evalkit.cases import InlineVideo, MotionTransferCase
    from evalkit.registry import METRICS
    from evalkit.run.keys import metric_key

    metric = METRICS.get("identity-leakage")()
    case = MotionTransferCase("c", InlineVideo(plugins_for_tests.square_video(0)), "p")
    missing = metric_key("g", case, metric)
    snap = tmp_path / "hf" / "hub" / "models--facebook--dino-vitb16"
    (snap / "snapshots" / ("a" * 40)).mkdir(parents=True)
    (snap / "refs").mkdir()
    (snap / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    rev_a = metric_key("g", case, metric)
    (snap / "snapshots" / ("b" * 40)).mkdir()
    (snap / "refs" / "main").write_text("b" * 40)
    assert len({missing, rev_a, metric_key("g", case, metric)}) == 3
    seg = METRICS.get("set-consistency")()
    assert "clipseg-rd64" in seg.feature_backends()


def test_a_cpu_run_needs_no_torch(tmp_path):
    """The core (and its load stage's timer) runs with torch unimportable."""
    code = ("import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
            "from evalkit.run.plan import load_plan; from evalkit.run.runner import run_plan\n"
            "plan = load_plan('synthetic[motions=translation,num_frames=6,height=48,width=64]', "
            "generators=['copy', 'static'], metrics=['temporal-flicker'])\n"
            "s = run_plan(plan, %r)\n"
            "print(s.generated, s.failed, sorted(s.loads))\n" % str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[-2] == "2 0 ['copy', 'static']"
