"""Point tracks and dense flow: the two kinds of motion feature, and the grid they start from.

A tracker backend follows points of the first frame through a video; a flow backend
estimates dense optical flow between consecutive frames. Both take whole videos and
batch inside, so a metric asks once per video and the FeatureContext memo shares it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..video import Video
from .base import FeatureBackend


@dataclass(frozen=True)
class Tracks:
    points: np.ndarray   # float32 (T, N, 2), xy pixels of the tracked video
    visible: np.ndarray  # bool (T, N)

    def __post_init__(self) -> None:
        if self.points.ndim != 3 or self.points.shape[-1] != 2 or self.visible.shape != self.points.shape[:2]:
            raise InvalidInputError(
                f"tracks must be (T, N, 2) with visibility (T, N), got {self.points.shape} / {self.visible.shape}")

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.points.shape[1])


#: CoTracker builds its query grid at its working size (H, W) and scales tracks back
COTRACKER_WORK_SIZE = (384, 512)


def grid_points(size: int, height: int, width: int) -> np.ndarray:
    """``size``×``size`` points (N, 2) xy, row-major, exactly where CoTracker's predictor puts
    its ``grid_size`` queries: uniform over its 384×512 working frame with a margin of
    512/64 = 8 px on every side, then mapped to the video's pixels by (W−1)/511, (H−1)/383
    (cotracker predictor.py and get_points_on_a_grid). ``klt`` uses the same grid."""
    if size < 1:
        raise InvalidInputError(f"grid size must be ≥ 1, got {size}")
    wh, ww = COTRACKER_WORK_SIZE
    if size == 1:
        xs, ys = np.array([ww / 2]), np.array([wh / 2])
    else:
        margin = ww / 64
        xs = np.linspace(margin, ww - margin, size)
        ys = np.linspace(margin, wh - margin, size)
    gx, gy = np.meshgrid(xs * (width - 1) / (ww - 1), ys * (height - 1) / (wh - 1))  # y outer, x inner
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def mask_box(mask: np.ndarray) -> np.ndarray:
    """The rectangular mask covering a binary mask, as the DMT official code builds it:
    rows ``ymin:ymax`` and columns ``xmin:xmax`` with the max excluded (their slicing)."""
    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 2 or not mask.any():
        raise InvalidInputError(f"mask must be a non-empty 2-D array, got shape {mask.shape} with "
                                f"{int(mask.sum())} foreground pixels")
    ys, xs = np.nonzero(mask)
    box = np.zeros_like(mask)
    box[ys.min():ys.max(), xs.min():xs.max()] = True
    if not box.any():
        raise InvalidInputError("the mask's bounding box is empty: the mask spans one row or column "
                                "(the official box excludes its last row and column)")
    return box


def points_in_mask(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Boolean (N,) for points whose rounded pixel lies in ``mask`` (CoTracker's selection rule)."""
    h, w = mask.shape
    xi = np.clip(np.round(points[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(points[:, 1]).astype(int), 0, h - 1)
    return mask[yi, xi]


def same_shape_groups(videos: Sequence[Video]) -> dict[tuple, list[int]]:
    """Indices of videos grouped by (T, H, W): only those can share a batch."""
    groups: dict[tuple, list[int]] = {}
    for i, v in enumerate(videos):
        groups.setdefault(v.frames.shape[:3], []).append(i)
    return groups


class TrackerBackend(FeatureBackend):
    """Tracks points of frame 0: a ``grid_size``² grid (optionally only inside ``mask``, a
    (H, W) bool in the video's pixels) or explicit ``queries`` (N, 2) xy."""
    #: True where a mask of any size is read relative to the frame (CoTracker resizes it itself)
    masks_any_size = False

    def track(self, videos: Sequence[Video], *, grid_size: int = 55, mask: np.ndarray | None = None,
              queries: np.ndarray | None = None, frames: Sequence | None = None) -> list[Tracks]:
        """``frames``: the videos' uint8 frames on the device, for backends that
        ``takes_device_frames`` (the others read ``video.frames``)."""
        raise NotImplementedError

    @staticmethod
    def query_points(video: Video, grid_size: int, mask: np.ndarray | None,
                     queries: np.ndarray | None) -> np.ndarray:
        if queries is not None:
            return np.asarray(queries, np.float32).reshape(-1, 2)
        pts = grid_points(grid_size, video.height, video.width)
        if mask is not None:
            if mask.shape != video.size:
                raise InvalidInputError(
                    f"{video.origin}: mask size {mask.shape} differs from the video's {video.size}")
            pts = pts[points_in_mask(pts, mask)]
            if len(pts) == 0:
                raise InvalidInputError(f"{video.origin}: no grid point falls inside the mask")
        return pts


class FlowBackend(FeatureBackend):
    """Dense flow between consecutive frames: float32 (T-1, H, W, 2), (u, v) in pixels."""

    def flow(self, video: Video, frames=None) -> np.ndarray:
        raise NotImplementedError
