"""Imaging Quality (VBench ``imaging_quality``: MUSIQ trained on SPAQ).

Per frame: the MUSIQ-SPAQ score of the frame (VBench's ``longer`` preprocessing: longer
side capped at 512) divided by 100; mean over the frames of a video; multi-shot: mean over
shots. VBench divides only its final average by 100; dividing every frame is the same number.
"""
from __future__ import annotations

from typing import Callable, cast

import numpy as np

from ..cases import Case, Generation
from ..features.base import FeatureContext
from ..features.kinds import FrameScorer
from ..features.shared import backend
from ..registry import METRICS
from ..video import Video
from .base import Metric, MetricResult, MetricSpec, per_video_result

MUSIQ_SCALE = 100.0  # VBench: average_score / 100


@METRICS.register()
class ImagingQuality(Metric):
    spec = MetricSpec(
        name="imaging-quality", measures="quality", higher_is_better=True, value_range=(0.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated",),
        reference="VBench imaging_quality.py (MUSIQ, Ke et al. 2021; pyiqa musiq_spaq_ckpt-358bb6af.pth)",
        backends=("musiq",), report_scale=100.0)
    defaults = {"preprocess": "longer"}
    choices = {"preprocess": ("longer", "shorter", "shorter-centercrop", "none")}

    @property
    def backend_options(self) -> dict:
        return {"preprocess": self.options["preprocess"]}

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        model = backend(ctx, self.model_backend, **self.backend_options)
        scorer = cast(FrameScorer, model)
        scores = []
        for video in generation.videos:
            per_frame = ctx.features(model, video, "musiq", _frame_scores(scorer, video))
            scores.append(float(np.mean(per_frame)) / MUSIQ_SCALE)
        return per_video_result(case, scores)


def _frame_scores(scorer: FrameScorer, video: Video) -> Callable[[], np.ndarray]:
    """Computes ``video``'s per-frame scores when the feature is not memoised yet."""
    return lambda: scorer.score(video.frames)
