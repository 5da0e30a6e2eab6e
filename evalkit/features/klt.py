"""Weight-free point tracks: OpenCV pyramidal Lucas–Kanade, frame to frame, with a
forward–backward check deciding visibility. Runs anywhere (no torch)."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..registry import FEATURES
from ..video import Video
from .tracking import TrackerBackend, Tracks


def _fill_lost(prev: np.ndarray, new: np.ndarray, ok: np.ndarray, last_step: np.ndarray, k: int,
               min_reliable: float, size: tuple[int, int]) -> np.ndarray:
    """Points whose step is unreliable (left the frame, occluded, failed the fb check) move
    with the median step of their ``k`` nearest reliable neighbours, as a learned tracker
    keeps predicting occluded points: a frozen track would add zero steps (cosine 0) to
    Motion Fidelity. With (almost) no reliable point left, points outside the frame (the
    grid has panned out of view) repeat their previous step and points inside it stay put
    (a frame of noise: no motion is invented from a few chance matches)."""
    if ok.all():
        return new
    if ok.mean() < max(min_reliable, 1e-9) or k < 1:
        h, w = size
        outside = (prev[:, 0] < 0) | (prev[:, 0] > w - 1) | (prev[:, 1] < 0) | (prev[:, 1] > h - 1)
        return np.where(ok[:, None], new, np.where(outside[:, None], prev + last_step, prev))
    from scipy.spatial import cKDTree

    good = np.flatnonzero(ok)
    steps = new[good] - prev[good]
    _, nn = cKDTree(prev[good]).query(prev[~ok], k=min(k, len(good)))
    nn = nn.reshape(int((~ok).sum()), -1)
    out = new.copy()
    out[~ok] = prev[~ok] + np.median(steps[nn], axis=1)
    return out


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


@FEATURES.register("klt")
class KLTTracker(TrackerBackend):
    # max_residual: LK's mean absolute intensity error in the window (0–255); real DAVIS
    # points stay below ~25 (99th percentile 14–32), pure noise sits at ~34, where LK "converges"
    # without moving and passes the fb check. min_reliable: below this fraction of reliable
    # points their steps are not trusted to fill in the others (noise, or a grid panned away).
    defaults = {"win_size": 21, "max_level": 3, "fb_threshold": 1.0, "max_residual": 25.0,
                "fill_neighbours": 8, "min_reliable": 0.1}
    weights_id = None

    def _track_one(self, video: Video, pts: np.ndarray) -> Tracks:
        o = self.options
        lk = dict(winSize=(o["win_size"], o["win_size"]), maxLevel=o["max_level"],
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
        T, n = video.num_frames, len(pts)
        points = np.empty((T, n, 2), np.float32)
        visible = np.empty((T, n), bool)
        points[0], visible[0] = pts, True
        prev = _gray(video.frames[0])
        cur_pts = pts.reshape(-1, 1, 2).astype(np.float32)
        last_step = np.zeros((n, 2), np.float32)
        for t in range(1, T):
            nxt = _gray(video.frames[t])
            fwd, st_f, err = cv2.calcOpticalFlowPyrLK(prev, nxt, cur_pts, None, **lk)
            back, st_b, _ = cv2.calcOpticalFlowPyrLK(nxt, prev, fwd, None, **lk)
            fb_err = np.linalg.norm((back - cur_pts).reshape(-1, 2), axis=1)
            ok = ((st_f.ravel() == 1) & (st_b.ravel() == 1) & (fb_err < o["fb_threshold"])
                  & (err.ravel() < o["max_residual"]))
            # once lost, a track stays invisible: LK cannot tell re-appearance from drift
            new = _fill_lost(cur_pts.reshape(-1, 2), fwd.reshape(-1, 2), ok, last_step,
                             o["fill_neighbours"], o["min_reliable"], video.size)
            last_step = new - cur_pts.reshape(-1, 2)
            points[t] = new
            visible[t] = visible[t - 1] & ok
            cur_pts = new.reshape(-1, 1, 2).astype(np.float32)
            prev = nxt
        return Tracks(points, visible)

    def track(self, videos: Sequence[Video], *, grid_size: int = 55, mask: np.ndarray | None = None,
              queries: np.ndarray | None = None, frames=None) -> list[Tracks]:  # CPU: reads video.frames
        return [self._track_one(v, self.query_points(v, grid_size, mask, queries)) for v in videos]
