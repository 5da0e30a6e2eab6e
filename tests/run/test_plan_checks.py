"""Plan time: default generators are resolved into the plan (and so the run id); a generator or
metric that applies to none of the dataset's case kinds is an error before anything runs."""
from __future__ import annotations

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest

from evalkit.errors import EvalkitError
from evalkit.generators.base import Generator
from evalkit.registry import GENERATORS
from evalkit.run.plan import ComponentSpec, Plan, load_plan
from evalkit.run.runner import run_plan


class ExtraReference(Generator):
    """A weight-free generator that a newer evalkit might add to the defaults."""
    case_kinds = ("motion-transfer",)
    weight_free = True


def test_default_generators_enter_the_plan_and_the_run_id(monkeypatch):
    before = load_plan("test-squares")
    names = [g.name for g in before.generators]
    assert "copy" in names and "test-copy" in names   # weight-free, motion-transfer
    assert "synthetic-shots" not in names             # weight-free, but multi-shot only
    assert "vanilla" not in names                     # needs weights
    assert before.to_dict()["generators"] == [{"name": n} for n in names]
    GENERATORS.names()
    monkeypatch.setitem(GENERATORS._entries, "test-extra-reference", ExtraReference)
    after = load_plan("test-squares")
    assert [g.name for g in after.generators] == sorted(names + ["test-extra-reference"])
    assert after.run_id != before.run_id


def test_default_metrics_keep_only_those_for_the_case_kind():
    plan = load_plan("multishot-story")
    assert [m.name for m in plan.metrics] == ["temporal-flicker"]   # motion-fidelity: motion-transfer only
    gens = [g.name for g in plan.generators]
    assert "synthetic-shots" in gens and all(GENERATORS.get(n).weight_free for n in gens)


@pytest.mark.parametrize("generators,metrics,named", [
    (["mbq"], None, "generator 'mbq' accepts motion-transfer cases; dataset 'multishot-story' has multi-shot"),
    (["synthetic-shots", "mbq"], None, "generator 'mbq'"),
    (["synthetic-shots"], ["motion-fidelity"],
     "metric 'motion-fidelity' scores motion-transfer cases; dataset 'multishot-story' has multi-shot"),
])
def test_kind_mismatch_is_an_error_at_plan_time(generators, metrics, named):
    with pytest.raises(EvalkitError) as err:
        load_plan("multishot-story", generators=generators, metrics=metrics)
    assert named in str(err.value)


def test_run_plan_checks_before_creating_the_store(tmp_path):
    plan = Plan(ComponentSpec("test-squares"), (ComponentSpec("test-copy"), ComponentSpec("synthetic-shots")),
                (ComponentSpec("test-brightness"),))
    with pytest.raises(EvalkitError, match="generator 'synthetic-shots' accepts multi-shot cases; "
                                           "dataset 'test-squares' has motion-transfer"):
        run_plan(plan, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    unknown_option = Plan(ComponentSpec("test-squares"), (ComponentSpec("test-copy", {"brighten_": 1}),),
                          (ComponentSpec("test-brightness"),))
    with pytest.raises(EvalkitError, match="brighten"):
        run_plan(unknown_option, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(EvalkitError, match="no generators"):
        run_plan(Plan(ComponentSpec("test-squares"), (), (ComponentSpec("test-brightness"),)), tmp_path / "out")
