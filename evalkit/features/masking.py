"""Subject masks from a saliency map by Otsu's threshold (Motion by Queries App. B.8).

Per frame: Otsu's threshold (``skimage.filters.threshold_otsu``) on the saliency map
(CLIPSeg's ``sigmoid(logits)``), foreground = saliency > threshold, mask upsampled to
the frame size (bilinear on the 0/1 mask, > 0.5). A frame whose map is constant, or
whose foreground is empty, gets no mask and a reason instead.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.filters import threshold_otsu


def otsu_mask(saliency: np.ndarray, size: tuple[int, int] | None = None) -> tuple[np.ndarray | None, str]:
    """(H', W') saliency -> (bool mask at ``size`` (H, W) or None, reason when None)."""
    s = np.asarray(saliency, dtype=np.float32)
    if not np.all(np.isfinite(s)):
        return None, "saliency map has non-finite values"
    if float(s.max() - s.min()) <= 1e-6:
        return None, f"saliency map is constant ({float(s.max()):.3g}): Otsu finds no foreground"
    mask = s > threshold_otsu(s)
    if not mask.any():
        return None, "Otsu threshold leaves an empty foreground"
    if size is not None and tuple(size) != mask.shape:
        h, w = size
        mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
        if not mask.any():
            return None, f"mask vanishes when upsampled to {w}x{h}"
    return mask, ""


def apply_mask(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Background filled with black."""
    return frame * mask[..., None].astype(np.uint8)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
