"""Identity Leakage (Motion by Queries Sec. 3, Table 1 "Id. Leak", lower is better).

Mean DINO (ViT-B/16 CLS) cosine similarity between frames of the source video and of the
generated video: over all frame pairs (default) or frame-index-matched pairs
(``pairing="matched"``, both truncated to the shorter video).
"""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..features.base import FeatureContext
from ..features.shared import frame_embeddings
from ..registry import METRICS
from .base import Metric, MetricResult, MetricSpec


def identity_leakage(source: np.ndarray, generated: np.ndarray, pairing: str = "all") -> float:
    """Mean cosine of unit feature rows: all (i, j) pairs, or (i, i) for ``matched``."""
    if pairing == "matched":
        n = min(len(source), len(generated))
        return float(np.mean(np.sum(source[:n] * generated[:n], axis=1)))
    return float(np.mean(source @ generated.T))


@METRICS.register("identity-leakage")
class IdentityLeakage(Metric):
    spec = MetricSpec(
        name="identity-leakage", higher_is_better=False, value_range=(-1.0, 1.0),
        case_kinds=("motion-transfer",),
        reference="Motion by Queries (Sec. 3, Table 1: 38.6 for MbQ+VC2)",
        backends=("dino-vitb16", "dino-vits16"), report_scale=100.0)
    defaults = {"pairing": "all"}
    choices = {"pairing": ("all", "matched")}

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        src = frame_embeddings(ctx, self.backend, ctx.source_video(case))
        gen = frame_embeddings(ctx, self.backend, generation.video)
        value = identity_leakage(src, gen, self.options["pairing"])
        return MetricResult(value, {"source_frames": len(src), "generated_frames": len(gen)})
