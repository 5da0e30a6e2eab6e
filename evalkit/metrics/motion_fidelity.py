"""Motion Fidelity (Yatim et al. 2024, "Space-Time Diffusion Features for Zero-Shot
Text-Driven Motion Transfer"; used by Motion by Queries, DiTFlow, LMP).

Functional core on track arrays (numpy, no torch) plus the registered metric, which pairs
the two videos' frames by time (``time_alignment``), tracks a grid of each first frame and
compares the tracks' per-step directions. Definition: ../shared/docs/metrics.md "Motion
Fidelity"; implementation choices: docs/metrics/motion.md.
"""
from __future__ import annotations

import numpy as np

from ..cases import Generation, MotionTransferCase
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..features.tracking import Tracks, mask_box
from ..registry import METRICS
from .base import Metric, MetricResult, MetricSpec
from .time_alignment import TIME_ALIGNED, align_in_time

EPS = 1e-6  # steps shorter than this count as no motion (cosine 0, never NaN)
VARIANTS = ("symmetric", "dmt_official")


def unit_steps(points: np.ndarray, eps: float = EPS) -> np.ndarray:
    """(N, T, 2) tracks → (N, T-1, 2) per-step displacements scaled to unit length
    (a zero step stays zero)."""
    d = np.diff(np.asarray(points, np.float64), axis=1)
    norm = np.linalg.norm(d, axis=-1, keepdims=True)
    return d / np.maximum(norm, eps)


def correlation_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """corr[i, j] = mean_k cos(d_k(a_i), d_k(b_j)) for tracks a (N, T, 2) and b (M, T, 2)."""
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError(f"track lengths differ ({a.shape[1]} vs {b.shape[1]} frames)")
    if a.shape[1] < 2:
        raise InvalidInputError("motion fidelity needs at least two frames")
    ua, ub = unit_steps(a), unit_steps(b)
    k = ua.shape[1]
    # Σ_k <ua_k, ub_k> is one dot product of the flattened step sequences
    return (ua.reshape(len(ua), -1) @ ub.reshape(len(ub), -1).T) / k


def motion_fidelity(source: np.ndarray, generated: np.ndarray, variant: str = "symmetric") -> float:
    """Motion fidelity of generated tracks Q (M, T, 2) against source tracks P (N, T, 2).

    symmetric (MbQ Sec. 3): ½[(1/m) Σ_q max_p corr + (1/n) Σ_p max_q corr]; the paper
    prints the sum of the two terms, its reported values (≤ 100) imply the mean.
    dmt_official (motion_fidelity_score.py): generated → source only, identity subtracted
    from the similarity matrix before the max (needs M == N).
    """
    if variant not in VARIANTS:
        raise InvalidInputError(f"motion fidelity variant {variant!r} not in {VARIANTS}")
    corr = correlation_matrix(generated, source)  # rows: generated q, columns: source p
    if variant == "symmetric":
        return float(0.5 * (corr.max(axis=1).mean() + corr.max(axis=0).mean()))
    if corr.shape[0] != corr.shape[1]:
        raise InvalidInputError(
            f"dmt_official needs as many generated as source tracks ({corr.shape[0]} vs {corr.shape[1]})")
    return float((corr - np.eye(len(corr))).max(axis=1).mean())


def align(source, generated):
    """Frames paired by time (``time_alignment``) and the generated video at the source's
    resolution, as the reference scripts score both; returns (source, generated, alignment, notes)."""
    alignment = align_in_time(source, generated)
    source, generated = alignment.apply(source, generated)
    notes = alignment.notes()
    if generated.size != source.size:
        notes.append(f"generated resized {generated.height}x{generated.width} -> {source.height}x{source.width}")
        generated = generated.resize(*source.size)
    return source, generated, alignment, notes


@METRICS.register()
class MotionFidelity(Metric):
    spec = MetricSpec(
        name="motion-fidelity", higher_is_better=True, value_range=(-1.0, 1.0),
        case_kinds=("motion-transfer",), inputs=("generated", "source"),
        reference="Yatim et al. 2024 (DMT), diffusion-motion-transfer motion_fidelity_score.py; "
                  "symmetric form: Motion by Queries Sec. 3",
        backends=("cotracker3", "cotracker1", "klt"), report_scale=100.0)
    # protocol: how the two videos' frames are paired; a reference's own frame handling
    # (e.g. DiTFlow: track the full videos, then slice the tracks) is another choice here
    defaults = {"variant": "symmetric", "use_mask": False, "grid_size": 55, "protocol": TIME_ALIGNED}
    choices = {"variant": VARIANTS, "use_mask": (False, True), "protocol": (TIME_ALIGNED,)}
    version = "2"  # 2: frames paired by time, not truncated to the shorter video
    bounds = {"grid_size": (1, 256)}   # a 256² grid is 65k points; 100000² would need 74.5 GiB

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.spec.inputs + (("source-mask",) if self.options["use_mask"] else ())

    def compute(self, case: MotionTransferCase, generation: Generation, ctx: FeatureContext) -> MetricResult:
        source, generated, alignment, notes = align(ctx.source_video(case), generation.video)
        mask = None
        if self.options["use_mask"]:
            if case.source_mask is None:
                raise InvalidInputError(f"{case.case_id}: use_mask is on but the case has no source mask")
            first = np.asarray(case.source_mask.load()[0], bool)
            if first.shape != source.size:
                import cv2
                notes.append(f"mask resized {first.shape[0]}x{first.shape[1]} -> {source.height}x{source.width}")
                first = cv2.resize(first.astype(np.uint8), (source.width, source.height),
                                   interpolation=cv2.INTER_NEAREST) > 0
            mask = mask_box(first)  # the official code tracks inside the mask's bounding box
        backend = ctx.backend(self.backend)
        grid = int(self.options["grid_size"])
        if mask is None:
            what = f"tracks:grid{grid}"
        else:
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            what = f"tracks:grid{grid}:box{rows[0]}-{rows[-1]},{cols[0]}-{cols[-1]}"

        def tracks_of(video):
            return lambda: backend.track([video], grid_size=grid, mask=mask)[0]

        p: Tracks = ctx.features(backend, source, what, tracks_of(source))
        q: Tracks = ctx.features(backend, generated, what, tracks_of(generated))
        value = motion_fidelity(p.points.transpose(1, 0, 2), q.points.transpose(1, 0, 2),
                                self.options["variant"])
        return MetricResult(value, {"frames": source.num_frames, "source_tracks": p.num_points,
                                    "generated_tracks": q.num_points, "notes": notes,
                                    "time_alignment": alignment.details(),
                                    "backend_weights": backend.weights_id or "weight-free"})
