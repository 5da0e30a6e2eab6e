"""DINO-I (DreamBooth convention; V-Warper Table 1): mean cosine between every generated frame
and every reference image, DINO ViT-S/16 CLS, Resize 256 bicubic + CenterCrop 224 + ImageNet."""
from __future__ import annotations

from ..registry import METRICS
from .base import MetricSpec
from .clip_i import ReferenceSimilarity


@METRICS.register()
class DinoI(ReferenceSimilarity):
    spec = MetricSpec(
        name="dino-i", measures="identity", higher_is_better=True, value_range=(-1.0, 1.0), case_kinds=("personalization",),
        inputs=("generated", "reference-images"),
        reference="Ruiz et al. 2023 (DreamBooth DINO-I); V-Warper Table 1",
        backends=("dino-vits16", "dino-vitb16"))
    preprocess = "dreambooth-dino"
