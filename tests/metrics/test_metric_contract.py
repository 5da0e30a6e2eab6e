"""The metric contract: one name per metric, the inputs each reads, per-shot values."""
from __future__ import annotations

import pytest

from evalkit.cases import CASE_KINDS
from evalkit.metrics.base import INPUTS, Metric, MetricSpec
from evalkit.registry import METRICS, Registry


def _spec(name: str, **kw) -> MetricSpec:
    return MetricSpec(name=name, higher_is_better=True, value_range=(0.0, 1.0),
                      case_kinds=("motion-transfer",), reference="tests", **kw)


def test_every_metric_is_registered_under_its_spec_name():
    assert len(METRICS.names()) >= 15
    for name, cls in METRICS.items():
        assert cls.spec.name == name == cls.registry_name, cls


def test_a_name_that_disagrees_with_the_spec_is_rejected_at_registration():
    cls = type("Mismatch", (Metric,), {"spec": _spec("contract-probe-b")})
    with pytest.raises(ValueError, match="'contract-probe-a' states its name as 'contract-probe-b'"):
        METRICS.register("contract-probe-a")(cls)
    assert "contract-probe-a" not in METRICS and "contract-probe-b" not in METRICS
    # a subclass that forgets its own spec would take its parent's name: a duplicate
    reg = Registry("metric", "evalkit.metrics", name_of=METRICS.name_of)
    reg.register()(cls)
    assert cls.registry_name == "contract-probe-b" and reg.names() == ["contract-probe-b"]
    with pytest.raises(ValueError, match="already registered"):
        reg.register()(type("Forgetful", (cls,), {}))
    with pytest.raises(ValueError, match="kebab-case"):
        reg.register()(type("Snake", (Metric,), {"spec": _spec("snake_name")}))


def test_every_metric_states_inputs_from_the_vocabulary():
    for name, cls in METRICS.items():
        spec = cls.spec
        assert spec.inputs and set(spec.inputs) <= set(INPUTS), name
        assert set(spec.case_kinds) <= set(CASE_KINDS), name
    assert METRICS.get("motion-fidelity").spec.inputs == ("generated", "source")
    assert METRICS.get("identity-leakage").spec.inputs == ("generated", "source")
    assert METRICS.get("dynamic-degree").spec.inputs == ("generated",)
    assert METRICS.get("temporal-flicker").spec.inputs == ("generated",)
    assert METRICS.get("set-consistency").spec.inputs == ("shots", "subject")
    assert METRICS.get("clip-i").spec.inputs == ("generated", "reference-images")
    assert "prompt" in METRICS.get("clip-text").spec.inputs
    with pytest.raises(ValueError, match="inputs"):
        _spec("bad-inputs", inputs=("source-video",))


def test_options_can_add_inputs():
    mf = METRICS.get("motion-fidelity")
    assert mf(backend="klt").inputs == ("generated", "source")
    assert mf(backend="klt", use_mask=True).inputs == ("generated", "source", "source-mask")
