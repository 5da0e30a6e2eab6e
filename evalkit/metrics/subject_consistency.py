"""VBench Subject Consistency (Huang et al. 2024; Motion by Queries Tables 1, 3).

DINO ViT-B/16 CLS features with VBench's preprocessing (short side 224, no crop). For
frame i >= 1: ``(max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))) / 2``; the video score
is the mean over the T-1 terms. Several videos (a multi-shot set) average per video:
evalkit aggregates video-weighted (VBench is frame-weighted on one GPU).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..features.shared import frame_embeddings, require_frames
from ..registry import METRICS
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec, per_video_result


def dot_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosines of unit rows (float32, as VBench's float32 features)."""
    return np.sum(a * b, axis=1)


def vbench_consistency(features: np.ndarray, cosines: Callable = dot_cosines) -> float:
    """Features (T, D), unit rows, T >= 2 -> VBench's consecutive-and-first similarity;
    ``cosines(a, b)`` gives row-wise cosines (another arithmetic, e.g. VBench's fp16)."""
    if len(features) < 2:
        raise InvalidInputError(f"VBench consistency needs at least 2 frames, got {len(features)}")
    to_prev = np.asarray(cosines(features[1:], features[:-1]), np.float64)
    to_first = np.asarray(cosines(features[1:], np.broadcast_to(features[:1], features[1:].shape)), np.float64)
    return float(np.mean((np.maximum(to_prev, 0.0) + np.maximum(to_first, 0.0)) / 2.0))


class VBenchConsistency(Metric):
    """Shared body: the per-video VBench formula on the metric's backend features."""
    preprocess: str = ""
    defaults = DTYPE_DEFAULT
    choices = DTYPE_CHOICES

    @property
    def backend_options(self) -> dict:
        return {"preprocess": self.preprocess}

    def cosines(self, ctx: FeatureContext) -> Callable:
        return dot_cosines

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        scores = []
        for video in generation.videos:
            require_frames(video, 2, self.spec.name)
            feats = frame_embeddings(ctx, self.model_backend, video, self.feature_dtype, **self.backend_options)
            scores.append(vbench_consistency(feats, self.cosines(ctx)))
        return per_video_result(case, scores)


@METRICS.register()
class SubjectConsistency(VBenchConsistency):
    spec = MetricSpec(
        name="subject-consistency", measures="temporal consistency", higher_is_better=True, value_range=(0.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated",),
        reference="VBench subject_consistency.py (Huang et al. 2024); Motion by Queries Tables 1, 3",
        backends=("dino-vitb16",), report_scale=100.0)
    preprocess = "vbench-dino"
