"""PCK@α (percentage of correct keypoints) and TAP-Vid position accuracy: functional cores
over predicted vs ground-truth points. Used to score a method's internal correspondences
(V-Warper Fig. 4 / App. B.1) and to validate tracker and flow backends on the synthetic
suite (evalkit.analyses.trackers). Not a registered metric: it scores points, not
generations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError


@dataclass(frozen=True)
class PCKResult:
    per_point: float     # correct / all valid points, pooled over images
    per_image: float     # mean over images (with ≥ 1 valid point) of each image's fraction
    num_points: int
    num_images: int


def _prepare(pred, gt, valid):
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise InvalidInputError(f"points must be (images, N, 2) of equal shapes, got {pred.shape} and {gt.shape}")
    valid = np.ones(gt.shape[:2], bool) if valid is None else np.asarray(valid, bool)
    if valid.shape != gt.shape[:2]:
        raise InvalidInputError(f"visibility must be (images, N) = {gt.shape[:2]}, got {valid.shape}")
    valid = valid & np.isfinite(gt).all(-1)  # unannotated points (NaN) are excluded
    if not valid.any():
        raise InvalidInputError("no visible ground-truth point to score")
    return pred, gt, valid


def _pool(correct: np.ndarray, valid: np.ndarray) -> PCKResult:
    counts = valid.sum(1)
    has = counts > 0
    per_image = (correct & valid).sum(1)[has] / counts[has]
    return PCKResult(float((correct & valid).sum() / valid.sum()), float(per_image.mean()),
                     int(valid.sum()), int(has.sum()))


def pck(pred, gt, alpha: float = 0.05, *, visible=None, image_size=None, bbox=None,
        convention: str = "image") -> PCKResult:
    """Fraction of valid points with ‖pred − gt‖ ≤ α·L.

    convention="image": L = max(H, W) of the image (V-Warper: "α relative to image
    resolution"); ``image_size`` = (H, W) for all images or (I, 2).
    convention="bbox": L = max(h, w) of the target object's box (SPair-71k); ``bbox`` (I, 4)
    as x0, y0, x1, y1, or None to use each image's visible ground-truth points' extent.
    """
    pred, gt, valid = _prepare(pred, gt, visible)
    n_img = gt.shape[0]
    if convention == "image":
        if image_size is None:
            raise InvalidInputError("pck with convention='image' needs image_size=(H, W)")
        size = np.broadcast_to(np.asarray(image_size, np.float64), (n_img, 2))
        scale = size.max(1)
    elif convention == "bbox":
        if bbox is None:
            lo = np.where(valid[..., None], gt, np.inf).min(1)
            hi = np.where(valid[..., None], gt, -np.inf).max(1)
            box = np.concatenate([lo, hi], 1)
        else:
            box = np.broadcast_to(np.asarray(bbox, np.float64), (n_img, 4))
        scale = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    else:
        raise InvalidInputError(f"pck convention {convention!r} not in ('image', 'bbox')")
    dist = np.linalg.norm(pred - gt, axis=-1)
    return _pool(dist <= alpha * scale[:, None], valid)


def position_accuracy(pred, gt, *, visible=None, thresholds=(1, 2, 4, 8, 16)) -> dict[str, float]:
    """TAP-Vid <δ^x>: fraction of visible points within δ pixels, per δ, and their mean
    ("avg"). Pass the query frame's points removed (they are given, not predicted)."""
    pred, gt, valid = _prepare(pred, gt, visible)
    dist = np.linalg.norm(pred - gt, axis=-1)[valid]
    out = {f"<{d}px": float((dist < d).mean()) for d in thresholds}
    out["avg"] = float(np.mean([out[f"<{d}px"] for d in thresholds]))
    return out
