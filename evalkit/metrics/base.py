"""The metric contract: a frozen spec of facts, and ``compute(case, generation, ctx)``.

Each metric is one file in ``evalkit/metrics`` that registers itself with
``@METRICS.register("name")``. A metric returns one finite value per item (plus optional
details); anything that cannot be computed raises an EvalkitError whose message becomes
the item's recorded failure reason. Aggregation is the report layer's job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from ..cases import Case, Generation
from ..configurable import Configurable
from ..errors import EvalkitError
from ..features.base import FeatureContext


@dataclass(frozen=True)
class MetricSpec:
    name: str
    higher_is_better: bool           # no default: every metric states its direction
    value_range: tuple[float, float]
    case_kinds: tuple[str, ...]      # kinds of Case it scores
    reference: str                   # where the definition comes from (paper, repo file)
    backends: tuple[str, ...] = ()   # feature backends it can use; the first is the default
    boolean: bool = False            # per-item True/False, aggregated as a fraction
    report_scale: float = 1.0        # 100 where papers report ×100
    unit: str = ""


@dataclass(frozen=True)
class MetricResult:
    value: float
    details: Mapping[str, Any] = field(default_factory=dict)


class Metric(Configurable):
    spec: ClassVar[MetricSpec]

    def __init__(self, backend: str | None = None, device: str = "cpu", **options: Any) -> None:
        super().__init__(**options)
        if self.spec.backends:
            backend = backend or self.spec.backends[0]
            if backend not in self.spec.backends:
                raise EvalkitError(f"{self.spec.name}: backend {backend!r} not in {self.spec.backends}")
        elif backend:
            raise EvalkitError(f"{self.spec.name} takes no backend (got {backend!r})")
        self.backend = backend
        self.device = device

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "backend": self.backend}

    @property
    def column(self) -> str:
        """Report column name: the metric name plus its backend and non-default options."""
        return self.label(self.backend or "")

    def feature_backends(self) -> tuple[str, ...]:
        """Every feature backend this metric's value depends on (enters its cache key)."""
        return (self.backend,) if self.backend else ()

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        raise NotImplementedError

    def __call__(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        if case.kind not in self.spec.case_kinds:
            raise EvalkitError(f"{self.spec.name} does not apply to {case.kind} cases")
        result = self.compute(case, generation, ctx)
        if not isinstance(result, MetricResult):
            result = MetricResult(float(result))
        if not math.isfinite(result.value):
            raise EvalkitError(f"{self.spec.name} produced a non-finite value ({result.value})")
        return result
