"""Identity Leakage (Motion by Queries Sec. 3, Table 1 "Id. Leak", lower is better).

Mean DINO (ViT-B/16 CLS) cosine similarity between frames of the source video and of the
generated video, both paired by time first (``time_alignment``: the frames at the same
instants over the common duration): over all pairs of those frames (default) or the
time-matched pairs only (``pairing="matched"``).
"""
from __future__ import annotations

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..features.shared import frame_embeddings
from ..registry import METRICS
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec
from .time_alignment import align_in_time


def identity_leakage(source: np.ndarray, generated: np.ndarray, pairing: str = "all") -> float:
    """Mean cosine of unit feature rows: all (i, j) pairs, or (i, i) for ``matched`` (rows
    already paired by time, so equally many)."""
    if pairing == "matched":
        if len(source) != len(generated):
            raise InvalidInputError(f"matched pairing needs time-aligned frames ({len(source)} source "
                                    f"vs {len(generated)} generated)")
        return float(np.mean(np.sum(source * generated, axis=1)))
    return float(np.mean(source @ generated.T))


@METRICS.register()
class IdentityLeakage(Metric):
    spec = MetricSpec(
        name="identity-leakage", measures="identity", higher_is_better=False, value_range=(-1.0, 1.0),
        case_kinds=("motion-transfer",), inputs=("generated", "source"),
        reference="Motion by Queries (Sec. 3, Table 1: 38.6 for MbQ+VC2)",
        backends=("dino-vitb16", "dino-vits16"), report_scale=100.0)
    defaults = {**DTYPE_DEFAULT, "pairing": "all"}
    choices = {**DTYPE_CHOICES, "pairing": ("all", "matched")}
    version = "2"  # 2: frames paired by time, not truncated to the shorter video

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        source, generated = ctx.source_video(case), generation.video
        alignment = align_in_time(source, generated)
        # features of the whole videos (shared with other metrics), rows picked by time
        src = frame_embeddings(ctx, self.model_backend, source, self.feature_dtype)[list(alignment.source_frames)]
        gen = frame_embeddings(ctx, self.model_backend, generated, self.feature_dtype)[list(alignment.generated_frames)]
        value = identity_leakage(src, gen, self.options["pairing"])
        return MetricResult(value, {"source_frames": len(src), "generated_frames": len(gen),
                                    "time_alignment": alignment.details(), "notes": alignment.notes(),
                                    "warnings": alignment.warnings()})
