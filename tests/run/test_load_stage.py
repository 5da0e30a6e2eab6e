"""Loading a generator is its own stage: called once per generator per process before its first
item, timed, stored per run × generator × device × shard, never part of a generation's timings;
a failing load fails every item of that generator and the run goes on."""
from __future__ import annotations

import time

import plugins_for_tests  # noqa: F401  (registers test-* plugins)

from evalkit.cases import Generation, StageTimings
from evalkit.errors import MissingWeightsError
from evalkit.features.base import FeatureBackend
from evalkit.generators.base import Generator
from evalkit.metrics.base import Metric, MetricResult, MetricSpec
from evalkit.registry import FEATURES, GENERATORS, METRICS
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import ResultsStore

LOAD_CALLS: list[str] = []


@GENERATORS.register("test-slow-load")
class SlowLoad(Generator):
    """Copies the source; load() sleeps (or raises), generate() refuses to run unloaded."""
    case_kinds = ("motion-transfer",)
    defaults = {"load_seconds": 0.3, "fail": ""}

    def load(self):
        LOAD_CALLS.append(self.label())
        time.sleep(self.options["load_seconds"])
        if self.options["fail"]:
            raise MissingWeightsError(self.options["fail"])
        self.loaded = True

    def generate(self, case, seed):
        assert getattr(self, "loaded", False), "generate() before load()"
        return Generation((case.source.load(),), StageTimings(inference=0.01))


def plan(*generators) -> Plan:
    return Plan(ComponentSpec("test-squares", {"n": 3}), generators, (ComponentSpec("test-brightness"),))


def tables(out, run_id):
    store = ResultsStore(out)
    try:
        return store.loads(run_id), store.generations(run_id), store.results(run_id)
    finally:
        store.close()


def test_load_is_timed_once_and_kept_out_of_the_generation_timings(tmp_path):
    LOAD_CALLS.clear()
    summary = run_plan(plan(ComponentSpec("test-slow-load"), ComponentSpec("test-copy")), tmp_path)
    assert LOAD_CALLS == ["test-slow-load"]      # once for three items
    loads, gens, results = tables(tmp_path, summary.run_id)
    row = loads.set_index("generator").loc["test-slow-load"]
    assert row["status"] == "ok" and 0.3 <= row["seconds"] < 2.0
    assert row["device"] == "cpu" and row["shard"] == "0/1"
    assert set(loads["generator"]) == {"test-slow-load", "test-copy"}   # every generator loads
    slow = gens[gens.generator == "test-slow-load"]
    assert (slow["inference"] == 0.01).all() and (slow["total"] == 0.01).all()
    assert (results["status"] == "ok").all()
    assert summary.loads["test-slow-load"] >= 0.3
    # resuming a complete run loads nothing: every generation is cached
    LOAD_CALLS.clear()
    again = run_plan(plan(ComponentSpec("test-slow-load"), ComponentSpec("test-copy")), tmp_path)
    assert LOAD_CALLS == [] and again.loads == {} and again.recomputed_nothing


def test_a_failing_load_fails_every_item_of_that_generator_only(tmp_path):
    LOAD_CALLS.clear()
    broken = ComponentSpec("test-slow-load", {"load_seconds": 0.0, "fail": "no weights at /nowhere"})
    summary = run_plan(plan(broken, ComponentSpec("test-copy")), tmp_path)
    label = GENERATORS.get("test-slow-load")(**broken.options).label()
    assert LOAD_CALLS == [label]   # not retried per item
    loads, _, results = tables(tmp_path, summary.run_id)
    failed = results[results.generator.str.startswith("test-slow-load")]
    assert len(failed) == 3 and (failed["status"] == "failed").all()
    assert failed["error"].str.contains("load failed: no weights at /nowhere").all()
    assert (results[results.generator == "test-copy"]["status"] == "ok").all()
    row = loads.set_index("generator").loc[label]
    assert row["status"] == "failed" and "no weights at /nowhere" in row["error"]
    assert summary.failed == 3 and summary.generated == 6


@GENERATORS.register("test-flaky-load")
class FlakyLoad(SlowLoad):
    """Fails to load while BROKEN is set: an environment problem, not a property of the items."""
    defaults = {"load_seconds": 0.0, "fail": ""}
    BROKEN = True

    def load(self):
        if FlakyLoad.BROKEN:
            raise MissingWeightsError("weights not downloaded yet")
        super().load()


def test_items_of_a_failed_load_are_retried_by_the_next_run(tmp_path):
    FlakyLoad.BROKEN = True
    first = run_plan(plan(ComponentSpec("test-flaky-load")), tmp_path)
    assert first.failed == 3 and "weights not downloaded yet" in first.load_failures["test-flaky-load"]
    FlakyLoad.BROKEN = False
    second = run_plan(plan(ComponentSpec("test-flaky-load")), tmp_path)   # no --retry-failed
    assert (second.generated, second.failed) == (3, 0)
    loads, _, results = tables(tmp_path, second.run_id)
    assert (results["status"] == "ok").all() and list(loads["status"]) == ["ok"]   # the latest load


@FEATURES.register("test-slow-backend")
class SlowBackend(FeatureBackend):
    """Stands for a model backend: constructing it is loading its weights."""

    def __init__(self, **options):
        super().__init__(**options)
        time.sleep(0.2)


@METRICS.register("test-backend-brightness")
class BackendBrightness(Metric):
    spec = MetricSpec(name="test-backend-brightness", higher_is_better=True, value_range=(0, 255),
                      case_kinds=("motion-transfer",), reference="tests")

    def compute(self, case, generation, ctx):
        ctx.backend("test-slow-backend")
        return MetricResult(float(generation.video.frames.mean()))


def test_a_metric_backends_model_load_is_in_the_runs_load_line(tmp_path):
    """The metrics' model loads are a fixed start of every process: the summary names them
    (first run: loaded once for all items; a second run in the process reuses the model)."""
    def go(out):
        return run_plan(Plan(ComponentSpec("test-squares", {"n": 3}), (ComponentSpec("test-copy"),),
                             (ComponentSpec("test-backend-brightness"),)), out)

    first = go(tmp_path / "a")
    assert 0.2 <= first.loads["test-slow-backend[float32]"] < 0.6 and "test-copy" in first.loads
    assert "test-slow-backend[float32]" not in go(tmp_path / "b").loads
