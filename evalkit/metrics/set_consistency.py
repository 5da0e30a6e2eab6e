"""Multi-shot Set Consistency (Motion by Queries App. B.8, Table 3: 68.8 for MbQ+VC2).

Per frame of every shot: CLIPSeg saliency of the subject text, Otsu mask (per frame),
background blacked out, DINO ViT-B/16 CLS feature of the masked frame. Score = mean
cosine over all frame pairs of the set that come from *different* shots.

Empty masks: a frame whose Otsu mask is empty is recorded in ``details["failures"]``
(shot, frame, reason) and counted in ``details["failed_frames"]``; it takes no part in
the pairs (``on_empty_mask="exclude"``, default). The item itself fails only when fewer
than two shots keep a masked frame. ``on_empty_mask="fail"`` fails the whole set item
at the first empty mask instead.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence, cast

import numpy as np

from ..cases import Case, Generation, MultiShotCase
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..features.masking import apply_mask, otsu_mask
from ..features.shared import backend
from ..registry import METRICS
from ..video import Video
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec

MAX_LISTED_FAILURES = 20


def cross_shot_similarity(shots: Sequence[np.ndarray]) -> float:
    """Mean cosine over pairs (i in shot a, j in shot b), a != b, of unit feature rows."""
    shots = [s for s in shots if len(s)]
    if len(shots) < 2:
        raise InvalidInputError(f"set consistency needs at least two shots with features, got {len(shots)}")
    total, count = 0.0, 0
    for a in range(len(shots)):
        for b in range(a + 1, len(shots)):
            total += float(np.sum(shots[a] @ shots[b].T))
            count += len(shots[a]) * len(shots[b])
    return total / count


def masked_subject_features(ctx: FeatureContext, dino_name: str, video: Video, subject: str,
                            dtype: str | None = None):
    """(features of the frames with a mask (K, D), kept frame indices, [(frame, reason)])."""
    dino = backend(ctx, dino_name, dtype)
    seg = backend(ctx, "clipseg-rd64", dtype)

    def one_frame(args):
        frame, sal = args
        mask, reason = otsu_mask(sal, frame.shape[:2])
        return (None, reason) if mask is None else (apply_mask(frame, mask), "")

    def compute():
        saliency = seg.saliency(ctx.frames_for(seg, video), subject)
        # Otsu + upsampling + masking is CPU work per frame (numpy, skimage and cv2 release the GIL)
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            results = list(pool.map(one_frame, zip(video.frames, saliency)))
        kept, failed, masked = [], [], []
        for t, (frame, reason) in enumerate(results):
            if frame is None:
                failed.append((t, reason))
            else:
                kept.append(t)
                masked.append(frame)
        feats = dino.embed(np.stack(masked)) if masked else np.zeros((0, 0), np.float32)
        return feats, kept, failed

    return ctx.features(dino, video, f"subject-masked[{seg.identity}]:{subject}", compute)


@METRICS.register()
class SetConsistency(Metric):
    spec = MetricSpec(
        name="set-consistency", measures="identity", higher_is_better=True, value_range=(-1.0, 1.0),
        case_kinds=("multi-shot",), inputs=("shots", "subject"), per_video=False,
        reference="Motion by Queries App. B.8 (Table 3); ConsiStory-style DINO set similarity",
        backends=("dino-vitb16",), report_scale=100.0)
    defaults = {**DTYPE_DEFAULT, "on_empty_mask": "exclude"}
    choices = {**DTYPE_CHOICES, "on_empty_mask": ("exclude", "fail")}
    version = "1"

    def feature_backends(self) -> tuple[str, ...]:
        return (self.model_backend, "clipseg-rd64")  # the masks come from CLIPSeg

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        if len(generation.videos) < 2:
            raise InvalidInputError(f"{case.case_id}: set consistency needs at least two shots, "
                                    f"the generation holds {len(generation.videos)}")
        subject = cast(MultiShotCase, case).subject  # spec.case_kinds admits multi-shot cases only
        shots, failures, frames = [], [], 0
        for s, video in enumerate(generation.videos):
            feats, kept, failed = masked_subject_features(ctx, self.model_backend, video, subject, self.feature_dtype)
            frames += video.num_frames
            for t, reason in failed:
                if self.options["on_empty_mask"] == "fail":
                    raise InvalidInputError(f"{case.case_id}: shot {s} frame {t}: {reason}")
                failures.append(f"shot {s} frame {t}: {reason}")
            shots.append(feats)
        if sum(1 for f in shots if len(f)) < 2:
            raise InvalidInputError(f"{case.case_id}: fewer than two shots have a subject mask "
                                    f"for {subject!r} ({len(failures)} of {frames} frames failed)")
        details = {"failed_frames": len(failures), "frames": frames,
                   "failures": failures[:MAX_LISTED_FAILURES]}
        return MetricResult(cross_shot_similarity(shots), details)
