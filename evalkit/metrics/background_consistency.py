"""VBench Background Consistency: the subject-consistency formula on CLIP ViT-B/32 features.

Preprocessing as VBench's ``clip_transform``: bicubic resize of the short side to 224
(uint8, no antialiasing), centre crop 224, CLIP mean/std.
"""
from __future__ import annotations

from ..registry import METRICS
from .base import MetricSpec
from .subject_consistency import VBenchConsistency


@METRICS.register()
class BackgroundConsistency(VBenchConsistency):
    spec = MetricSpec(
        name="background-consistency", measures="temporal consistency", higher_is_better=True, value_range=(0.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated",),
        reference="VBench background_consistency.py (Huang et al. 2024); Motion by Queries Table 1 (Bk Cons.)",
        backends=("clip-vit-b32",), report_scale=100.0)
    preprocess = "vbench-clip"
