"""CLIPScore: the named variant of clip-text (same features, same prompts), in one of two
conventions, both called "CLIPScore" in papers:

- ``hessel`` (default; Hessel et al. 2021, Eq. 1): ``w · max(cos, 0)`` per frame with w = 2.5,
  mean over frames (range 0–2.5).
- ``torchmetrics`` (``torchmetrics.multimodal.CLIPScore``): ``max(100 · mean cos, 0)`` with
  w = 100, and the clamp applied to the mean over the frames (its ``compute`` clamps the
  accumulated average), not per frame (range 0–100).

Stored raw in the convention's own units; report_scale 1.
"""
from __future__ import annotations

import numpy as np

from ..registry import METRICS
from .base import MetricSpec
from .clip_text import ClipText, frame_text_cosines

CLIPSCORE_W = 2.5  # Hessel et al. 2021, Eq. 1
TORCHMETRICS_W = 100.0  # torchmetrics CLIPScore: max(100 * cos, 0)
CONVENTIONS = ("hessel", "torchmetrics")


@METRICS.register()
class ClipScore(ClipText):
    spec = MetricSpec(
        name="clip-score", measures="text alignment", higher_is_better=True, value_range=(0.0, TORCHMETRICS_W),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated", "prompt"),
        reference="Hessel et al. 2021 (CLIPScore, w=2.5); torchmetrics CLIPScore (w=100, clamp of the mean)",
        backends=("clip-vit-b32", "clip-vit-l14"))
    defaults = {**ClipText.defaults, "convention": "hessel"}
    choices = {**ClipText.choices, "convention": CONVENTIONS}

    def video_score(self, frames: np.ndarray, text: np.ndarray) -> float:
        cosines = frame_text_cosines(frames, text)
        if self.options["convention"] == "hessel":
            return float(np.mean(CLIPSCORE_W * np.maximum(cosines, 0.0)))
        return max(float(TORCHMETRICS_W * np.mean(cosines)), 0.0)
