"""DINO temporal consistency as MTBench computes it (Shi-qingyu/DeT ``evaluation.py`` @ 2a2f4dd,
``calculate_dino`` / ``temporal_consistency``; "TC" of its tables).

Per video, with f_t the unit ``pooler_output`` of frame t (backend ``dino-vitb16-hf``):
TC = ½ [ mean_t cos(f_t, f_0) + mean_t cos(f_t, f_{t−1}) ], with f_{−1} = f_0, so both means run
over all T frames and frame 0 contributes 1 to each (the release indexes ``arange(T) − 1`` with
the first set to 0). No clamping (VBench's subject consistency clamps at 0 and skips frame 0:
``subject-consistency``).
"""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..features.shared import backend, frame_embeddings
from ..registry import METRICS
from .base import Metric, MetricResult, MetricSpec, score_each_video


def mtbench_temporal_consistency(features: np.ndarray) -> tuple[float, float, float]:
    """(TC, first-frame mean, previous-frame mean) of (T, D) unit vectors."""
    f = np.asarray(features, np.float64)
    if len(f) < 1:
        raise InvalidInputError("temporal consistency needs at least one frame")
    previous = f[np.maximum(np.arange(len(f)) - 1, 0)]
    first, prev = float((f @ f[0]).mean()), float((f * previous).sum(-1).mean())
    return 0.5 * (first + prev), first, prev


@METRICS.register()
class DinoTemporalConsistency(Metric):
    spec = MetricSpec(
        name="dino-temporal-consistency", measures="temporal consistency", higher_is_better=True,
        value_range=(-1.0, 1.0), case_kinds=("motion-transfer", "multi-shot", "personalization"),
        reference="MTBench (Shi et al. ICCV 2025), Shi-qingyu/DeT evaluation.py calculate_dino",
        backends=("dino-vitb16-hf",), report_scale=100.0)
    defaults = {"protocol": "mtbench", "pooler_seed": 0}
    choices = {"protocol": ("mtbench",)}
    bounds = {"pooler_seed": (0, 2**63 - 1)}

    @property
    def backend_options(self) -> dict:
        return {"pooler_seed": self.options["pooler_seed"]}

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        model = backend(ctx, self.model_backend, self.feature_dtype, **self.backend_options)

        def score(video):
            value, first, prev = mtbench_temporal_consistency(
                frame_embeddings(ctx, self.backend, video, self.feature_dtype, **self.backend_options))
            return MetricResult(value, {"first_frame": first, "previous_frame": prev,
                                        "pooler": model.pooler_source})
        return score_each_video(case, generation, score)
