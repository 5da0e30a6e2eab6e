"""CLIPScore (Hessel et al. 2021): ``2.5 · max(cos, 0)`` per frame, mean over frames.

The named variant of clip-text (same features, same prompts); reported raw (range 0–2.5).
"""
from __future__ import annotations

import numpy as np

from ..registry import METRICS
from .base import MetricSpec
from .clip_text import ClipText

CLIPSCORE_W = 2.5  # Hessel et al. 2021, Eq. 1


@METRICS.register()
class ClipScore(ClipText):
    spec = MetricSpec(
        name="clip-score", measures="text alignment", higher_is_better=True, value_range=(0.0, CLIPSCORE_W),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated", "prompt"),
        reference="Hessel et al. 2021 (CLIPScore, w=2.5)",
        backends=("clip-vit-b32", "clip-vit-l14"))

    def per_frame(self, cosines: np.ndarray) -> np.ndarray:
        return CLIPSCORE_W * np.maximum(cosines, 0.0)
