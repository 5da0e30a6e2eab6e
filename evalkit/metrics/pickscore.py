"""PickScore (Kirstain et al. 2023, "Pick-a-Pic"; LMP Table 1 "Pick.").

Per frame, the PickScore reward ``logit_scale.exp() * cos(image embedding, text embedding)``
of the preference-tuned CLIP ViT-H/14 (backend ``pickscore``); mean over the frames of a video.
Prompts as ``clip-text``: the target prompt (motion transfer), each shot's own prompt
(multi-shot; mean over shots), the prompt without the subject token (personalization).
Stored raw, on the scale LMP prints (~20: the learned scale is ~100 and cosines ~0.2).
Frame and text embeddings are shared through the FeatureContext like the CLIP metrics'.
"""
from __future__ import annotations

from typing import cast

import numpy as np

from ..cases import Case, Generation
from ..features.base import FeatureContext
from ..features.kinds import LogitScaled
from ..features.shared import backend, frame_embeddings, text_embeddings
from ..registry import METRICS
from .base import Metric, MetricResult, MetricSpec, per_video_result
from .clip_text import prompts_per_video

PREPROCESS = "clip"  # what the reference CLIPProcessor does (the backend's only preset)
MAX_LOGIT_SCALE = 100.0  # CLIP clamps its learned temperature at 100


def pickscore_per_frame(frames: np.ndarray, text: np.ndarray, logit_scale: float) -> np.ndarray:
    """(T,) rewards from unit frame embeddings (T, D), a unit text embedding (D,) and
    ``logit_scale`` (already exponentiated)."""
    return logit_scale * (frames.astype(np.float64) @ text.astype(np.float64))


@METRICS.register()
class PickScore(Metric):
    spec = MetricSpec(
        name="pickscore", measures="text alignment", higher_is_better=True,
        value_range=(-MAX_LOGIT_SCALE, MAX_LOGIT_SCALE),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated", "prompt"),
        reference="Kirstain et al. 2023 (Pick-a-Pic, PickScore_v1 reward); LMP Table 1 (Pick., raw: 20.69)",
        backends=("pickscore",), report_scale=1.0)

    @property
    def backend_options(self) -> dict:
        return {"preprocess": PREPROCESS}

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        prompts = prompts_per_video(case, len(generation.videos))
        scale = cast(LogitScaled, backend(ctx, self.model_backend, **self.backend_options)).logit_scale
        texts = text_embeddings(ctx, self.model_backend, prompts, **self.backend_options)
        scores = []
        for video, text in zip(generation.videos, texts):
            frames = frame_embeddings(ctx, self.model_backend, video, **self.backend_options)
            scores.append(float(np.mean(pickscore_per_frame(frames, text, scale))))
        return per_video_result(case, scores, logit_scale=scale)
