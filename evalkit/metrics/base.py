"""The metric contract: a frozen spec of facts, and ``compute(case, generation, ctx)``.

Each metric is one file in ``evalkit/metrics`` that registers itself with
``@METRICS.register()``: the registry reads the name from ``spec.name``, its one source.
A metric returns one finite value per item (plus optional details); anything that cannot
be computed raises an EvalkitError whose message becomes the item's recorded failure reason.
On a multi-shot case, a metric defined per video puts one value per shot in
``details["per_video"]`` (shot order; ``per_video_result``). Aggregation is the report layer's job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from ..cases import Case, Generation
from ..configurable import Configurable
from ..errors import EvalkitError, InvalidInputError
from ..features.base import FeatureContext

#: what a metric may read from a case and its generation (``MetricSpec.inputs``)
INPUTS = {
    "generated": "the generated video (one per shot in a multi-shot set)",
    "shots": "a multi-shot set of generated videos (at least two)",
    "source": "the source video",
    "source-mask": "the source's subject mask (first frame)",
    "prompt": "the text prompt (one per shot in a multi-shot set)",
    "subject": "the subject text (e.g. 'a girl')",
    "reference-images": "reference images of the subject",
    "timings": "the generation's stage timings (recorded by `evalkit run`)",
}


#: the arithmetic a metric can ask of its model backends (option ``dtype``; see
#: evalkit.features.precision). float32, the default, is the references'; the others are
#: explicit choices for speed, with their measured differences in docs/performance.md.
FEATURE_DTYPES = ("float32", "tf32", "bfloat16")
DTYPE_DEFAULT: dict[str, Any] = {"dtype": "float32"}
DTYPE_CHOICES: dict[str, tuple] = {"dtype": FEATURE_DTYPES}

#: what a metric measures, in the order leaderboards group their columns
MEASURES = ("motion", "identity", "text alignment", "temporal consistency", "quality", "cost", "other")


@dataclass(frozen=True)
class MetricSpec:
    name: str                        # the registry name (read by @METRICS.register())
    higher_is_better: bool           # no default: every metric states its direction
    value_range: tuple[float, float]
    case_kinds: tuple[str, ...]      # kinds of Case it scores
    reference: str                   # where the definition comes from (paper, repo file)
    inputs: tuple[str, ...] = ("generated",)  # what it reads (keys of INPUTS), all required
    backends: tuple[str, ...] = ()   # feature backends it can use; the first is the default
    boolean: bool = False            # per-video True/False, aggregated as a fraction
    per_video: bool = True           # defined per video: a set's value is the mean over its shots,
                                     # listed in details["per_video"]; False: one value per generation
    set_level: bool = False          # a statistic of a generator's whole set of items (FVD): the metric
                                     # class's ``set_value(details)`` gives the column's value
    report_scale: float = 1.0        # 100 where papers report ×100
    unit: str = ""
    measures: str = "other"          # what it measures, one of MEASURES: groups leaderboard columns

    def __post_init__(self) -> None:
        if self.measures not in MEASURES:
            raise ValueError(f"metric {self.name}: measures={self.measures!r} must be one of {MEASURES}")
        unknown = [i for i in self.inputs if i not in INPUTS]
        if unknown or not self.inputs:
            raise ValueError(f"metric {self.name}: inputs {self.inputs} must be some of {tuple(INPUTS)}")


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
        self._check_dtype()

    @property
    def model_backend(self) -> str:
        """The feature backend it computes with: every metric whose spec names backends has one
        after ``__init__``; asking a metric that takes none is a programming error."""
        if self.backend is None:
            raise EvalkitError(f"{self.spec.name} takes no backend")
        return self.backend

    def _check_dtype(self) -> None:
        dtype = self.feature_dtype
        if dtype == "float32":
            return
        if self.options.get("fp16"):
            raise EvalkitError(f"{self.spec.name}: fp16=true is the reference's own fp16 arithmetic; "
                               f"it takes no dtype (got dtype={dtype})")
        from ..registry import FEATURES
        if self.backend and FEATURES.get(self.backend).weights_id is None:
            raise EvalkitError(f"{self.spec.name}: backend {self.backend!r} is a weight-free CPU algorithm; "
                               f"dtype={dtype} does not apply to it")

    @property
    def feature_dtype(self) -> str:
        """The dtype this metric's model backends compute in (option ``dtype``, float32 without it)."""
        return self.options.get("dtype", "float32")

    @property
    def config(self) -> dict[str, Any]:
        config = {**super().config, "backend": self.backend}
        if config.get("dtype") == "float32":  # as before the option existed: cache keys and stored configs stay
            del config["dtype"]
        return config

    @property
    def inputs(self) -> tuple[str, ...]:
        """The inputs this configuration reads: the spec's, plus any an option switches on."""
        return self.spec.inputs

    @property
    def column(self) -> str:
        """Report column name: the metric name plus its backend and non-default options."""
        return self.label(self.backend or "")

    def feature_backends(self) -> tuple[str, ...]:
        """Every feature backend this metric's value depends on (enters its cache key)."""
        return (self.backend,) if self.backend else ()

    @property
    def backend_options(self) -> dict[str, Any]:
        """Options its model backends are loaded with besides ``dtype`` (a preprocessing protocol)."""
        return {}

    def backend_loads(self) -> list[tuple[str, dict[str, Any]]]:
        """The models it loads, as (backend, options): the runner preloads them while the first
        items are prepared (one that differs costs a load, never a value: a metric loads its own)."""
        from ..registry import FEATURES
        return [(b, {"dtype": self.feature_dtype, **self.backend_options}) for b in self.feature_backends()
                if FEATURES.get(b).weights_id]

    @property
    def uses_model(self) -> bool:
        """Whether a model computes its features (else: pure CPU arithmetic, e.g. KLT, flicker)."""
        return bool(self.backend_loads())

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
        if case.kind == "multi-shot" and self.spec.per_video:
            per_video = result.details.get("per_video")
            if per_video is None or len(per_video) != len(generation.videos):
                raise EvalkitError(f"{self.spec.name}: a per-video metric must list one value per shot in "
                                   f"details['per_video'] ({len(generation.videos)} shots)")
        return result


def score_each_video(case: Case, generation: Generation, score: Callable[[Any], MetricResult]) -> MetricResult:
    """A per-video metric on a generation: ``score(video)`` of its one video, or on a multi-shot
    case of every shot (mean, values per shot, each shot's details under ``shots``; a shot with
    invalid input is named by its index)."""
    if case.kind != "multi-shot":
        return score(generation.video)
    shots = []
    for i, video in enumerate(generation.videos):
        try:
            shots.append(score(video))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{case.case_id} shot {i}: {exc}") from None
    return per_video_result(case, [r.value for r in shots], shots=[dict(r.details) for r in shots])


def per_video_result(case: Case, scores: list[float], **details: Any) -> MetricResult:
    """Mean over a generation's videos; on a multi-shot case one value per shot in
    ``details["per_video"]`` (shot order), the contract the report's per-shot tables read."""
    if case.kind == "multi-shot":
        details["per_video"] = [float(s) for s in scores]
    return MetricResult(float(np.mean(scores)), details)
