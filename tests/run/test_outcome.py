"""A run's status says what it achieved: complete, partial (failures, missing items, other
shards), failed (nothing succeeded) or interrupted; counts are over the whole run."""
from __future__ import annotations

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest

from evalkit.cases import Generation
from evalkit.generators.base import Generator
from evalkit.registry import GENERATORS
from evalkit.run.outcome import outcome
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import ResultsStore


@GENERATORS.register("test-interrupt-at")
class InterruptAt(Generator):
    """Copies the source; Ctrl-C (KeyboardInterrupt) when it reaches case ``at``."""
    case_kinds = ("motion-transfer",)
    defaults = {"at": ""}

    def generate(self, case, seed):
        if case.case_id == self.options["at"]:
            raise KeyboardInterrupt
        return Generation((case.source.load(),))


def _plan(*gens, **dataset) -> Plan:
    return Plan(ComponentSpec("test-squares", dataset), gens or (ComponentSpec("test-copy"),),
                (ComponentSpec("test-brightness"),))


def _status(out, run_id) -> str:
    store = ResultsStore(out)
    try:
        return store.run(run_id)["status"]
    finally:
        store.close()


def test_complete_partial_failed(tmp_path):
    good = run_plan(_plan(), tmp_path / "a")
    assert good.status == "complete" and _status(tmp_path / "a", good.run_id) == "complete"
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    some = run_plan(_plan(missing=str(bad)), tmp_path / "b")
    assert some.status == "partial" and _status(tmp_path / "b", some.run_id) == "partial"
    assert some.outcome.counts() == "3 of 4 results ok, 1 failed"
    none = run_plan(_plan(n=0, missing=str(bad)), tmp_path / "c")
    assert none.status == "failed" and none.outcome.counts() == "1 of 1 results failed"
    (reason,) = none.outcome.reasons
    assert reason.count == 1 and "bad.mp4" in reason.reason and reason.generators == ("test-copy",)


def test_a_rerun_counts_the_cached_failures_of_the_whole_run(tmp_path):
    """Defect: a re-run said '0 failed' while its own table showed every item failed."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    run_plan(_plan(n=0, missing=str(bad)), tmp_path)
    again = run_plan(_plan(n=0, missing=str(bad)), tmp_path)
    assert again.recomputed_nothing and again.failed == 0          # nothing failed in this process...
    assert again.outcome.failed == 1 and again.status == "failed"  # ...but the run has its failure


def test_one_shard_of_two_is_partial_until_the_other_finishes(tmp_path):
    first = run_plan(_plan(n=4), tmp_path, shard=(0, 2))
    assert first.status == "partial" and first.outcome.missing == 2
    second = run_plan(_plan(n=4), tmp_path, shard=(1, 2))
    assert second.status == "complete"


def test_an_interrupted_run_is_recorded_as_interrupted(tmp_path):
    p = _plan(ComponentSpec("test-interrupt-at", {"at": "sq2"}), n=3)
    with pytest.raises(KeyboardInterrupt):
        run_plan(p, tmp_path)
    assert _status(tmp_path, p.run_id) == "interrupted"
    store = ResultsStore(tmp_path)
    try:
        result = outcome(store.results(p.run_id), store.run(p.run_id)["expected"])
    finally:
        store.close()
    assert (result.ok, result.missing, result.status) == (2, 1, "partial")
    assert result.headline("interrupted") == "Run status: interrupted (2 of 3 results ok, 1 missing)"
