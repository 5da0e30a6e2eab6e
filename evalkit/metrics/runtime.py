"""Runtime: total wall seconds of a generation (Motion by Queries Table 2: inversion/feature
recording + optimisation + inference), with the stages and peak memory as details."""
from __future__ import annotations

from typing import ClassVar

from ..cases import CASE_KINDS, Case, Generation
from ..errors import EvalkitError
from ..features.base import FeatureContext
from ..registry import METRICS
from .base import Metric, MetricResult, MetricSpec


@METRICS.register()
class Runtime(Metric):
    spec: ClassVar[MetricSpec] = MetricSpec(
        name="runtime", measures="cost", higher_is_better=False, value_range=(0.0, float("inf")),
        case_kinds=tuple(CASE_KINDS), inputs=("timings",), per_video=False,
        reference="Motion by Queries Table 2 (runtime comparison)",
        unit="s")
    weight_free: ClassVar[bool] = True

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        t = generation.timings
        stages = {"inversion": t.inversion, "optimization": t.optimization, "inference": t.inference}
        bad = [k for k, v in stages.items() if not (v >= 0.0)]
        if bad:
            raise EvalkitError(f"runtime: case {case.case_id}: invalid stage timing(s) {bad} in {stages}")
        return MetricResult(float(t.total), {**stages, "peak_memory_bytes": int(generation.peak_memory_bytes)})
