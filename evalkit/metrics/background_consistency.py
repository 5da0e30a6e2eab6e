"""VBench Background Consistency: the subject-consistency formula on CLIP ViT-B/32 features.

Preprocessing as VBench's ``clip_transform``: bicubic resize of the short side to 224 (on
float32 frames, no antialiasing), centre crop 224, CLIP mean/std.

``fp16=True`` reproduces VBench on a GPU, where ``clip.load`` gives an fp16 model: CLIP in
OpenAI's fp16 layout (backend precision ``openai-fp16``), features normalised in fp16, and
each ``F.cosine_similarity`` evaluated on the fp16 features (its fp16 result is what
``.item()`` reads), on the run's device.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..features.base import FeatureContext
from ..registry import METRICS
from .base import MetricSpec
from .subject_consistency import VBenchConsistency


def fp16_cosines(device: str = "cpu") -> Callable:
    """Row-wise ``F.cosine_similarity`` of fp16 features, read back as Python floats."""
    def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import torch

        x, y = (torch.from_numpy(np.ascontiguousarray(v)).to(device).half() for v in (a, b))
        return torch.nn.functional.cosine_similarity(x, y, dim=1).double().cpu().numpy()
    return cosines


@METRICS.register()
class BackgroundConsistency(VBenchConsistency):
    spec = MetricSpec(
        name="background-consistency", measures="temporal consistency", higher_is_better=True, value_range=(0.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated",),
        reference="VBench background_consistency.py (Huang et al. 2024); Motion by Queries Table 1 (Bk Cons.)",
        backends=("clip-vit-b32",), report_scale=100.0)
    preprocess = "vbench-clip"
    defaults = {**VBenchConsistency.defaults, "fp16": False}
    choices = {**VBenchConsistency.choices, "fp16": (False, True)}

    @property
    def backend_options(self) -> dict:
        return {**super().backend_options, "precision": "openai-fp16" if self.options["fp16"] else "float32"}

    def cosines(self, ctx: FeatureContext) -> Callable:
        return fp16_cosines(ctx.device) if self.options["fp16"] else super().cosines(ctx)
