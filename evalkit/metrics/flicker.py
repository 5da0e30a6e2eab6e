"""Temporal Flicker (VBench ``temporal_flickering.py``; Motion by Queries Table 1, V-Warper Table A.1).

Per video: ``(255 - mean_t MAE(frame_t, frame_{t+1})) / 255`` on the uint8 frames at native
resolution, where MAE is the mean absolute difference over all pixels and channels.
1 = no change between frames (no flicker), 0 = every pixel jumps by 255 each frame.
"""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..registry import METRICS
from ..video import Video
from .base import Metric, MetricResult, MetricSpec, per_video_result


def temporal_flicker(video: Video) -> float:
    """The VBench temporal-flickering score of one video, in [0, 1] (higher is better)."""
    frames = video.frames
    if len(frames) < 2:
        raise InvalidInputError(
            f"{video.origin}: temporal flicker needs at least 2 frames, got {len(frames)}")
    # int16 differences cannot overflow (uint8 subtraction would wrap); exact integer sums,
    # one pair at a time so long videos need no T-sized temporary
    total = 0
    for a, b in zip(frames[:-1], frames[1:]):
        total += int(np.abs(a.astype(np.int16) - b.astype(np.int16)).sum(dtype=np.int64))
    mean_mae = total / ((len(frames) - 1) * frames[0].size)  # every pair has the same size
    return (255.0 - mean_mae) / 255.0


@METRICS.register()
class TemporalFlicker(Metric):
    """Multi-shot sets: the mean over shots of each shot's score (``details["per_video"]``)."""
    spec = MetricSpec(
        name="temporal-flicker", measures="temporal consistency",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"),
        inputs=("generated",),
        reference="VBench temporal_flickering.py (Huang et al. 2024)",
        # Motion by Queries Table 1 reports T. Flick. x100 (e.g. 95.1); V-Warper Table A.1 raw (0.9774)
        report_scale=100.0,
    )
    version = "2"  # 2: per-shot values under details["per_video"] (was "per_shot")

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        scores = []
        for i, video in enumerate(generation.videos):
            try:
                scores.append(temporal_flicker(video))
            except InvalidInputError as exc:
                shot = f" shot {i}" if case.kind == "multi-shot" else ""
                raise InvalidInputError(f"{case.case_id}{shot}: {exc}") from None
        return per_video_result(case, scores)
