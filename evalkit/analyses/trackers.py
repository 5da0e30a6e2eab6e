"""Check tracker and flow backends against exact ground truth: the synthetic suite's
tracks. Scores TAP-Vid position accuracy (fraction within δ ∈ {1, 2, 4, 8, 16} px, and
their mean) and PCK@0.05 of max(H, W), over visible points of frames 1..T-1 (frame 0
holds the queries). Flow backends are turned into tracks by chaining their flow.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..features.base import load_backend
from ..features.tracking import FlowBackend, TrackerBackend
from ..video import Video
from .pck import pck, position_accuracy


def chain_flow(flow: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Tracks (T, N, 2) by following (T-1, H, W, 2) flow from ``queries`` (N, 2) in frame 0,
    sampling the flow bilinearly at each current position (border values outside)."""
    pts = np.asarray(queries, np.float32).copy()
    out = [pts.copy()]
    for f in flow:
        mx = pts[:, 0].reshape(-1, 1).astype(np.float32)
        my = pts[:, 1].reshape(-1, 1).astype(np.float32)
        step = cv2.remap(np.ascontiguousarray(f, np.float32), mx, my, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).reshape(-1, 2)
        pts = pts + step
        out.append(pts.copy())
    return np.stack(out)


def predict_tracks(backend, video: Video, queries: np.ndarray) -> np.ndarray:
    if isinstance(backend, TrackerBackend):
        return backend.track([video], queries=queries)[0].points
    if isinstance(backend, FlowBackend):
        return chain_flow(backend.flow(video), queries)
    raise TypeError(f"{type(backend).__name__} is neither a tracker nor a flow backend")


@dataclass(frozen=True)
class CheckRow:
    backend: str
    motion: str
    within_1: float
    within_2: float
    within_4: float
    within_8: float
    within_16: float
    delta_avg: float
    pck_005: float
    points: int


def score_tracks(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, size: tuple[int, int]) -> dict:
    pred, gt, visible = pred[1:], gt[1:], visible[1:]
    acc = position_accuracy(pred, gt, visible=visible)
    res = pck(pred, gt, 0.05, visible=visible, image_size=size)
    return {**acc, "pck_005": res.per_point, "points": res.num_points}


def check_backend(name: str, clips, device: str = "cpu", **options) -> list[CheckRow]:
    """One row per synthetic clip (``evalkit.data.synthetic.SyntheticClip``)."""
    backend = load_backend(name, device, **options)
    rows = []
    for clip in clips:
        pred = predict_tracks(backend, clip.video, clip.tracks[0])
        s = score_tracks(pred, clip.tracks, clip.visible, clip.video.size)
        rows.append(CheckRow(name, clip.spec.motion, s["<1px"], s["<2px"], s["<4px"], s["<8px"],
                             s["<16px"], s["avg"], s["pck_005"], s["points"]))
    return rows


def check_backends(names=("klt", "dis"), motions=("translation", "rotation", "scaling", "pan", "fast"),
                   seed: int = 0, device: str = "cpu") -> list[dict]:
    from ..synthetic import SyntheticSpec, render

    clips = [render(SyntheticSpec(m, seed=seed)) for m in motions]
    return [asdict(r) for name in names for r in check_backend(name, clips, device)]
