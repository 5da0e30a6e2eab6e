"""Temporal Consistency (CLIP): mean cosine of CLIP image embeddings of consecutive frames.

Motion by Queries Table 1 ("Temp. C.", ×100: 97.0), LMP "Cons.". Multi-shot: mean over shots.
"""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..features.base import FeatureContext
from ..features.shared import frame_embeddings, require_frames
from ..registry import METRICS
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec, per_video_result
from .clip_text import PREPROCESS


def consecutive_similarity(features: np.ndarray) -> float:
    return float(np.mean(np.sum(features[1:] * features[:-1], axis=1)))


@METRICS.register()
class ClipTemporalConsistency(Metric):
    spec = MetricSpec(
        name="clip-temporal-consistency", measures="temporal consistency", higher_is_better=True,
        value_range=(-1.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated",),
        reference="Motion by Queries Table 1 (Temp. C.); LMP (Cons.)",
        backends=("clip-vit-b32", "clip-vit-l14"), report_scale=100.0)
    defaults = DTYPE_DEFAULT
    choices = DTYPE_CHOICES

    @property
    def backend_options(self) -> dict:
        return {"preprocess": PREPROCESS}

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        scores = []
        for video in generation.videos:
            require_frames(video, 2, self.spec.name)
            scores.append(consecutive_similarity(frame_embeddings(ctx, self.model_backend, video, self.feature_dtype,
                                                                   **self.backend_options)))
        return per_video_result(case, scores)
