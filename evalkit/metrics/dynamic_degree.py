"""VBench Dynamic Degree (Huang et al. 2024, Vchitect/VBench vbench/dynamic_degree.py).

Per video: optical flow between consecutive (sub-sampled) frames; a pair's score is the
mean of its top 5 % flow magnitudes; the video is dynamic (1.0) when at least
``count_num = round(4·n/16)`` pairs score above ``thres = 6·min(H, W)/256``.
A multi-shot set (Motion by Queries Table 3) gets one decision per shot: the value is the
fraction of dynamic shots, the decisions are ``details["per_video"]`` (shot order).
Definition: ../shared/docs/metrics.md "Dynamic Degree"; deviations: docs/metrics/motion.md.
"""
from __future__ import annotations

import os

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..registry import METRICS
from ..video import Video
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec, score_each_video

CONTAINER_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v")


def frame_step(fps: float) -> int:
    """VBench keeps every max(1, round(fps/8))-th frame of a video file (~8 fps; Python round)."""
    return max(1, round(fps / 8))


def is_frame_folder(video: Video) -> bool:
    """True when the video was read from a folder of frames (VBench does not sub-sample those).
    In-memory videos count as video files: VBench scores generated videos saved as mp4."""
    base = video.origin.split("|", 1)[0]
    return base != "<memory>" and not base.lower().endswith(CONTAINER_SUFFIXES) and os.path.isdir(base)


def thresholds(height: int, width: int, n_frames: int, fps: float | None = None) -> tuple[float, int]:
    """(thres, count_num). ``fps`` enables the factor max(1, 8/fps) on thres that VBench had
    from 11abda9 ("[fix] fps<8 bug") until fc4620b removed it again (not in VBench @ 45e79ec)."""
    factor = max(1.0, 8.0 / fps) if fps else 1.0
    return factor * 6.0 * min(height, width) / 256.0, round(4 * n_frames / 16.0)


def pad_sintel(frames: np.ndarray, multiple: int = 8) -> np.ndarray:
    """Edge-replicate (T, H, W, C) to multiples of 8, half per side (RAFT's InputPadder)."""
    h, w = frames.shape[1:3]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return frames
    return np.pad(frames, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="edge")


def pair_score(flow: np.ndarray) -> float:
    """Mean of the top int(H·W·0.05) magnitudes of one (H, W, 2) flow."""
    rad = np.sqrt(np.square(flow[..., 0], dtype=np.float64) + np.square(flow[..., 1], dtype=np.float64)).ravel()
    k = int(rad.size * 0.05)
    if k < 1:
        raise InvalidInputError(f"flow of {flow.shape[0]}x{flow.shape[1]} is too small for a top-5% mean")
    return float(np.partition(rad, rad.size - k)[rad.size - k:].mean())


def is_dynamic(scores, thres: float, count_num: int) -> bool:
    """VBench check_move: at least count_num pair scores strictly above thres. It tests the
    count inside its loop over the scores, so no scores (a 1-frame video) is False even
    where count_num is 0."""
    return len(scores) > 0 and sum(s > thres for s in scores) >= count_num


def flow_scores(ctx: FeatureContext, backend, padded: list[Video], crop: tuple[int, int, int, int] | None):
    """Pair scores of each padded video, measured inside ``crop`` (top, left, height, width)
    or on the whole padded frame; a video's scores are computed on the CPU (in a worker
    thread) while the device computes the next video's flow."""
    from concurrent.futures import ThreadPoolExecutor

    def scores_of(flow: np.ndarray) -> list[float]:
        if crop is not None:
            top, left, h, w = crop
            flow = flow[:, top:top + h, left:left + w]
        return [pair_score(f) for f in flow]

    def flow(video: Video) -> np.ndarray:
        if getattr(backend, "takes_device_frames", False):
            return backend.flow(video, ctx.device_frames(video))
        return backend.flow(video)

    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = [pool.submit(scores_of, flow(v)) for v in padded]
        return [f.result() for f in futures]


@METRICS.register()
class DynamicDegree(Metric):
    spec = MetricSpec(
        name="dynamic-degree", measures="motion", higher_is_better=True, value_range=(0.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated",),
        reference="VBench (Huang et al. 2024), Vchitect/VBench vbench/dynamic_degree.py",
        backends=("raft", "dis"), boolean=True, report_scale=100.0)
    # subsample: auto = video files and in-memory videos at ~8 fps, frame folders untouched
    # fps_factor: thres × max(1, 8/fps), VBench between 11abda9 and fc4620b only; off by default
    # vbench_compat: the padded border counts (RAFT's InputPadder), and a video left with one
    # frame after sub-sampling is False (VBench's check_move on no pairs); off: crop, and fail
    defaults = {**DTYPE_DEFAULT, "vbench_compat": True, "subsample": "auto", "fps_factor": False}
    choices = {**DTYPE_CHOICES, "vbench_compat": (True, False), "subsample": ("auto", "always", "never"),
               "fps_factor": (False, True)}
    version = "2"  # 2: a 1-frame sampled video is False under vbench_compat (was a failure)

    def sample(self, video: Video) -> tuple[Video, int]:
        mode = self.options["subsample"]
        step = 1 if mode == "never" or (mode == "auto" and is_frame_folder(video)) else frame_step(video.fps)
        return (video.subsample(step=step) if step > 1 else video), step

    def score_video(self, video: Video, ctx: FeatureContext, backend=None) -> MetricResult:
        """Score one video; ``backend`` overrides the context's (e.g. another batch size)."""
        sampled, step = self.sample(video)
        compat = self.options["vbench_compat"]
        if sampled.num_frames < 2:
            if not compat:
                raise InvalidInputError(f"{video.origin}: dynamic degree needs ≥ 2 frames after sub-sampling "
                                        f"(step {step}, {video.num_frames} frames)")
            return self._one_frame(video, sampled, step)
        backend = backend or ctx.backend(self.model_backend, dtype=self.feature_dtype)
        padded = sampled.with_frames(pad_sintel(sampled.frames), note="pad8")
        (h, w), (ph, pw) = sampled.size, padded.size
        # vbench_compat measures the padded border too; otherwise the frame itself
        crop = None if compat else ((ph - h) // 2, (pw - w) // 2, h, w)
        # memoise the per-pair scores, not the flow (a 49-frame 480p flow stack is ~135 MB)
        scores = ctx.features(backend, padded, f"flow-top5%:crop={crop}",
                              lambda: flow_scores(ctx, backend, [padded], crop)[0],
                              batch=lambda videos: flow_scores(ctx, backend, videos, crop))
        thres, count_num = thresholds(sampled.height, sampled.width, sampled.num_frames,
                                      video.fps if self.options["fps_factor"] else None)
        dynamic = is_dynamic(scores, thres, count_num)
        return MetricResult(float(dynamic), {
            "pair_scores": list(scores), "thres": thres, "count_num": count_num, "frame_step": step,
            "frames_sampled": sampled.num_frames, "flow_size": [ph, pw] if compat else [h, w],
            "backend_weights": backend.weights_id or "weight-free"})

    def _one_frame(self, video: Video, sampled: Video, step: int) -> MetricResult:
        """VBench on a video left with one frame: no flow pair, check_move([]) is False."""
        thres, count_num = thresholds(sampled.height, sampled.width, 1,
                                      video.fps if self.options["fps_factor"] else None)
        return MetricResult(0.0, {
            "pair_scores": [], "thres": thres, "count_num": count_num, "frame_step": step, "frames_sampled": 1,
            "notes": [f"1 frame after sub-sampling (step {step}, {video.num_frames} frames): no flow pair, "
                      "not dynamic, as VBench (vbench_compat)"]})

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        return score_each_video(case, generation, lambda video: self.score_video(video, ctx))
