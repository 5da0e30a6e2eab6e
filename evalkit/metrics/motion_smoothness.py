"""VBench Motion Smoothness (Huang et al. 2024, Vchitect/VBench vbench/motion_smoothness.py;
Motion by Queries Table 1 "Smooth.", V-Warper Table A.1 "Motion Smooth.").

Per video, VBench's protocol on **all** frames of the video (no frame-rate sub-sampling,
unlike Dynamic Degree): the even frames 0, 2, 4, … are the inputs; AMT-S interpolates the
midpoint of each two consecutive inputs; each interpolated frame 2k+1 is compared with the
original frame 2k+1 by the mean absolute difference over pixels and channels of the uint8
frames (``cv2.absdiff`` + ``np.mean``); the score is ``(255 − mean over frames of the MAE) / 255``.
An even frame count leaves the last (odd) frame unused, as in VBench. No clipping or rounding
beyond AMT's uint8 output (see evalkit/features/amt.py). A multi-shot set: the mean over shots,
one value per shot in ``details["per_video"]``.
"""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureBackend, FeatureContext
from ..registry import METRICS
from ..video import Video
from .base import Metric, MetricResult, MetricSpec, score_each_video

MIN_FRAMES = 3  # two inputs (frames 0, 2) and one target (frame 1)


def vbench_split(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets): the even frames, and the odd frames that lie between two inputs."""
    inputs = frames[0::2]
    return inputs, frames[1::2][:len(inputs) - 1]


def frame_mae(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute difference of two uint8 frames over pixels and channels (exact integer sum)."""
    return int(np.abs(pred.astype(np.int16) - target.astype(np.int16)).sum(dtype=np.int64)) / pred.size


def smoothness(maes) -> float:
    """VBench's ``(255 − mean MAE) / 255``."""
    return (255.0 - float(np.mean(maes))) / 255.0


@METRICS.register()
class MotionSmoothness(Metric):
    spec = MetricSpec(
        name="motion-smoothness", measures="temporal consistency", higher_is_better=True, value_range=(0.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated",),
        reference="VBench motion_smoothness.py (Huang et al. 2024) with AMT-S (Li et al. 2023), amt-s.pth",
        backends=("amt-s",),
        # Motion by Queries Table 1 prints Smooth. ×100 (97.3); V-Warper Table A.1 raw (0.9866)
        report_scale=100.0)

    def score_video(self, video: Video, ctx: FeatureContext, backend: FeatureBackend | None = None) -> MetricResult:
        """Score one video; ``backend`` overrides the context's (another batch size, an oracle)."""
        if video.num_frames < MIN_FRAMES:
            raise InvalidInputError(f"{video.origin}: motion smoothness needs at least {MIN_FRAMES} frames "
                                    f"(frames 0 and 2 interpolate frame 1), the video has {video.num_frames}")
        model = backend or ctx.backend(self.model_backend)

        def maes():
            inputs, targets = vbench_split(video.frames)
            return [frame_mae(p, t) for p, t in zip(model.interpolate(inputs), targets)]

        per_frame = ctx.features(model, video, "vbench-vfi-mae", maes)
        return MetricResult(smoothness(per_frame), {
            "frame_mae": list(per_frame), "interpolated_frames": [2 * k + 1 for k in range(len(per_frame))],
            "backend_weights": model.weights_id})

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        return score_each_video(case, generation, lambda video: self.score_video(video, ctx))
