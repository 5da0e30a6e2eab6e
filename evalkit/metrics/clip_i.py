"""CLIP-I (DreamBooth convention; V-Warper Table 1): mean cosine between every generated
frame and every reference image of the subject, CLIP ViT-B/32 with CLIP's own preprocessing."""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..features.base import FeatureContext
from ..features.shared import frame_embeddings, reference_embeddings
from ..registry import METRICS
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec


def mean_cross_similarity(frames: np.ndarray, refs: np.ndarray) -> float:
    return float(np.mean(frames @ refs.T))


class ReferenceSimilarity(Metric):
    preprocess: str = ""
    defaults = DTYPE_DEFAULT
    choices = DTYPE_CHOICES

    @property
    def backend_options(self) -> dict:
        return {"preprocess": self.preprocess}

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        refs = reference_embeddings(ctx, self.model_backend, case, self.feature_dtype, **self.backend_options)
        frames = frame_embeddings(ctx, self.model_backend, generation.video, self.feature_dtype, **self.backend_options)
        return MetricResult(mean_cross_similarity(frames, refs), {"references": len(refs)})


@METRICS.register()
class ClipI(ReferenceSimilarity):
    spec = MetricSpec(
        name="clip-i", measures="identity", higher_is_better=True, value_range=(-1.0, 1.0),
        case_kinds=("personalization",),
        inputs=("generated", "reference-images"),
        reference="Ruiz et al. 2023 (DreamBooth CLIP-I); V-Warper Table 1",
        backends=("clip-vit-b32", "clip-vit-l14"))
    preprocess = "clip"
