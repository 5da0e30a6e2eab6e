"""Motion Fidelity (Yatim et al. 2024, "Space-Time Diffusion Features for Zero-Shot
Text-Driven Motion Transfer"; used by Motion by Queries, DiTFlow, LMP).

Functional core on track arrays (numpy, no torch) plus the registered metric, which tracks
a grid of each video's first frame and compares the tracks' per-step directions. How the two
videos' frames meet is the ``protocol``:

- ``time-aligned`` (default): frames paired by time (``time_alignment``), the generated video
  resized to the source's, then both tracked.
- ``ditflow`` (ditflow/ditflow ``eval/motion_fidelity_score.py``): each full video tracked at
  its own size, then both track arrays cut to the shorter length (frame index), and the
  settings of that script: ``dmt_official``, no mask, a 55×55 grid (its tracker is
  CoTracker3 offline, the metric's default backend).
- ``mtbench`` (Shi-qingyu/DeT ``evaluation.py``, MTBench): each full video tracked at its own
  size on a 50×50 grid inside the box of the case's first-frame mask (the whole frame without
  one), tracks divided by W and H, frames matched by ``linspace``, [initial position, unit
  steps] cosine; ``hybrid=true`` adds MTBench's distance term on 50 tracks drawn from
  ``hybrid_seed`` (evalkit.metrics.mtbench_motion).

Definition: ../shared/docs/metrics.md "Motion Fidelity"; choices: docs/metrics/motion.md.
"""
from __future__ import annotations

import numpy as np

from ..cases import Generation, MotionTransferCase
from ..errors import EvalkitError, InvalidInputError
from ..features.base import FeatureContext
from ..features.shared import video_tracks
from ..features.tracking import Tracks, mask_box
from ..registry import METRICS
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec
from .mtbench_motion import MTBENCH_GRID, mtbench_motion_fidelity, normalise
from .time_alignment import TIME_ALIGNED, align_in_time

EPS = 1e-6  # steps shorter than this count as no motion (cosine 0, never NaN)
VARIANTS = ("symmetric", "dmt_official")
DITFLOW = "ditflow"
MTBENCH = "mtbench"
PROTOCOLS = (TIME_ALIGNED, DITFLOW, MTBENCH)
#: what a protocol fixes besides its frame handling: the reference script's own settings
#: (mtbench: the mask box whenever the case has a first-frame mask, as evaluation.py when the file exists)
PROTOCOL_SETTINGS = {DITFLOW: {"variant": "dmt_official", "use_mask": False, "grid_size": 55},
                     MTBENCH: {"use_mask": True, "grid_size": MTBENCH_GRID}}
MTBENCH_RULE = ("mtbench: each full video tracked at its own size, then the longer track array sampled at "
                "linspace(0, T_long - 1, T_short) truncated to integers")
DITFLOW_RULE = ("ditflow: each full video tracked at its own size, then the tracks of both cut to the "
                "first min(N_s, N_g) frames (by frame index, not time)")


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
        name="motion-fidelity", measures="motion", higher_is_better=True, value_range=(-1.0, 1.0),
        case_kinds=("motion-transfer",), inputs=("generated", "source"),
        reference="Yatim et al. 2024 (DMT), diffusion-motion-transfer motion_fidelity_score.py; "
                  "symmetric form: Motion by Queries Sec. 3; DiTFlow eval/motion_fidelity_score.py",
        backends=("cotracker3", "cotracker1", "klt"), report_scale=100.0)
    defaults = {**DTYPE_DEFAULT, "variant": "symmetric", "use_mask": False, "grid_size": 55, "protocol": TIME_ALIGNED,
                "hybrid": False, "hybrid_seed": 0}
    choices = {**DTYPE_CHOICES, "variant": VARIANTS, "use_mask": (False, True), "protocol": PROTOCOLS,
               "hybrid": (False, True)}
    version = "2"  # 2: frames paired by time, not truncated to the shorter video
    bounds = {"grid_size": (1, 256), "hybrid_seed": (0, 2**63 - 1)}  # a 256² grid is 65k points

    def __init__(self, backend: str | None = None, device: str = "cpu", **options) -> None:
        protocol = options.get("protocol", TIME_ALIGNED)
        fixed = PROTOCOL_SETTINGS.get(protocol, {})
        clash = [f"{k}={options[k]!r}" for k, v in fixed.items() if k in options and options[k] != v]
        if clash:
            raise EvalkitError(f"motion-fidelity: protocol={protocol} fixes "
                               + ", ".join(f"{k}={v!r}" for k, v in fixed.items())
                               + f" (its reference's settings); drop {', '.join(clash)}")
        if protocol != MTBENCH and (options.get("hybrid") not in (None, False, "false") or "hybrid_seed" in options):
            raise EvalkitError("motion-fidelity: hybrid and hybrid_seed belong to protocol=mtbench")
        super().__init__(backend, device, **{**options, **fixed})

    @property
    def config(self) -> dict:
        config = super().config
        if not config["hybrid"]:  # as before the options existed: the other protocols' cache keys stay
            del config["hybrid"], config["hybrid_seed"]
        return config

    @property
    def inputs(self) -> tuple[str, ...]:
        # mtbench reads the mask when the case has one, as evaluation.py when its file exists
        needs_mask = self.options["use_mask"] and self.options["protocol"] != MTBENCH
        return self.spec.inputs + (("source-mask",) if needs_mask else ())

    def compute(self, case: MotionTransferCase, generation: Generation, ctx: FeatureContext) -> MetricResult:
        if self.options["protocol"] == DITFLOW:
            return self._ditflow(ctx.source_video(case), generation.video, ctx)
        if self.options["protocol"] == MTBENCH:
            return self._mtbench(case, ctx.source_video(case), generation.video, ctx)
        source, generated, alignment, notes = align(ctx.source_video(case), generation.video)
        mask = self._mask_box(case, source, notes) if self.options["use_mask"] else None
        p, q, backend = self._tracks(ctx, source, generated, mask)
        value = motion_fidelity(p.points.transpose(1, 0, 2), q.points.transpose(1, 0, 2),
                                self.options["variant"])
        return MetricResult(value, {"frames": source.num_frames, "source_tracks": p.num_points,
                                    "generated_tracks": q.num_points, "notes": notes,
                                    "warnings": alignment.warnings(), "time_alignment": alignment.details(),
                                    "backend_weights": backend.weights_id or "weight-free"})

    def _ditflow(self, source, generated, ctx: FeatureContext) -> MetricResult:
        """Track first (each whole clip, at its own size), then slice: CoTracker3 offline
        sees the whole clip, so its tracks of a clip's first frames depend on what follows."""
        p, q, backend = self._tracks(ctx, source, generated, None)
        n = min(p.num_frames, q.num_frames)
        value = motion_fidelity(p.points[:n].transpose(1, 0, 2), q.points[:n].transpose(1, 0, 2),
                                self.options["variant"])
        notes = []
        if p.num_frames != q.num_frames:
            notes.append(f"ditflow: tracks of the full videos cut to their first {n} frames "
                         f"(source {p.num_frames}, generated {q.num_frames})")
        if source.size != generated.size:
            notes.append(f"ditflow: each video tracked at its own size (source {source.height}x{source.width}, "
                         f"generated {generated.height}x{generated.width})")

        def side(video):
            return {"fps": video.fps, "frames": video.num_frames, "used": list(range(n))}
        frames = {"protocol": DITFLOW, "rule": DITFLOW_RULE, "source": side(source), "generated": side(generated)}
        return MetricResult(value, {"frames": n, "source_tracks": p.num_points, "generated_tracks": q.num_points,
                                    "notes": notes, "time_alignment": frames,
                                    "backend_weights": backend.weights_id or "weight-free"})

    def _mtbench(self, case: MotionTransferCase, source, generated, ctx: FeatureContext) -> MetricResult:
        """MTBench: the box of the first-frame mask at the mask's own size (CoTracker resizes it to
        its working size for each video), each full video tracked at its own size."""
        notes: list[str] = []
        box = None
        if case.source_mask is not None:
            box = mask_box(np.asarray(case.source_mask.load()[0], bool))
        else:
            notes.append("mtbench: the case has no first-frame mask: the whole frame is tracked (as evaluation.py)")
        backend = ctx.backend(self.backend, dtype=self.feature_dtype)
        p, q = (self._tracks_in_box(ctx, backend, video, box, notes) for video in (source, generated))
        value, parts = mtbench_motion_fidelity(
            normalise(q.points.transpose(1, 0, 2), generated.height, generated.width),
            normalise(p.points.transpose(1, 0, 2), source.height, source.width),
            hybrid=self.options["hybrid"], seed=self.options["hybrid_seed"])
        if parts["zero_length_vectors"]:
            notes.append(f"mtbench: {parts['zero_length_vectors']} zero-length step vectors counted as cosine 0 "
                         "(evaluation.py divides by zero: NaN)")

        def side(video):
            return {"fps": video.fps, "frames": video.num_frames, "size": [video.height, video.width]}
        frames = {"protocol": MTBENCH, "rule": MTBENCH_RULE, "source": side(source), "generated": side(generated)}
        return MetricResult(value, {"frames": min(p.num_frames, q.num_frames), "source_tracks": p.num_points,
                                    "generated_tracks": q.num_points, "notes": notes, "time_alignment": frames,
                                    **parts, "backend_weights": backend.weights_id or "weight-free"})

    def _tracks_in_box(self, ctx: FeatureContext, backend, video, box, notes: list[str]) -> Tracks:
        grid = int(self.options["grid_size"])
        if box is None:
            return video_tracks(ctx, backend, video, f"tracks:grid{grid}", grid_size=grid)
        if box.shape != video.size and not getattr(backend, "masks_any_size", False):
            import cv2
            notes.append(f"mask box resized {box.shape[0]}x{box.shape[1]} -> {video.height}x{video.width} "
                         f"for {self.backend}")
            box = cv2.resize(box.astype(np.uint8), (video.width, video.height), interpolation=cv2.INTER_NEAREST) > 0
        rows, cols = np.flatnonzero(box.any(1)), np.flatnonzero(box.any(0))
        what = f"tracks:grid{grid}:box{rows[0]}-{rows[-1]},{cols[0]}-{cols[-1]}:of{box.shape[0]}x{box.shape[1]}"
        return video_tracks(ctx, backend, video, what, grid_size=grid, mask=box)

    def _mask_box(self, case: MotionTransferCase, source, notes: list[str]) -> np.ndarray:
        if case.source_mask is None:
            raise InvalidInputError(f"{case.case_id}: use_mask is on but the case has no source mask")
        first = np.asarray(case.source_mask.load()[0], bool)
        if first.shape != source.size:
            import cv2
            notes.append(f"mask resized {first.shape[0]}x{first.shape[1]} -> {source.height}x{source.width}")
            first = cv2.resize(first.astype(np.uint8), (source.width, source.height),
                               interpolation=cv2.INTER_NEAREST) > 0
        return mask_box(first)  # the official code tracks inside the mask's bounding box

    def _tracks(self, ctx: FeatureContext, source, generated, mask) -> tuple[Tracks, Tracks, object]:
        """Tracks of both videos (memoised per video: a source's are shared by every generator)."""
        backend = ctx.backend(self.backend, dtype=self.feature_dtype)
        grid = int(self.options["grid_size"])
        if mask is None:
            what = f"tracks:grid{grid}"
        else:
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            what = f"tracks:grid{grid}:box{rows[0]}-{rows[-1]},{cols[0]}-{cols[-1]}"

        return (video_tracks(ctx, backend, source, what, grid_size=grid, mask=mask),
                video_tracks(ctx, backend, generated, what, grid_size=grid, mask=mask), backend)
