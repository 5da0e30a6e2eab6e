"""Ground-truth motion of the synthetic benchmark (evalkit.synthetic): each motion type's
per-frame trajectory, and the affine maps between a texture canvas and a frame through which
every pixel, mask and track is rendered."""
from __future__ import annotations

import cv2
import numpy as np

MOTIONS = ("translation", "rotation", "scaling", "pan", "fast", "static")

# Per-frame rates at speed 1 for a 128-pixel short side (scaled with the frame).
# `fast` moves well above VBench's dynamic-degree threshold (6 px per 256 px of short
# side, i.e. 3 px at 128); `translation` and `pan` move clearly but modestly.
_TRANSLATION_PX = 1.5
_PAN_PX = 2.0
_FAST_PX = 8.0
_ROTATION_DEG = 4.0
_SCALING_LOG_RATE = 0.02
_SCALE_RANGE = (0.7, 1.4)


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold an unbounded coordinate into [lo, hi] (bounce at the borders)."""
    if hi <= lo:
        return np.full_like(x, (lo + hi) / 2)
    period = 2 * (hi - lo)
    y = np.mod(x - lo, period)
    return lo + np.where(y > hi - lo, period - y, y)


def trajectory(spec, radius: float, rng: np.random.Generator):
    """Per frame of a ``SyntheticSpec``: subject centre (x, y), rotation (radians), scale, camera offset x."""
    t = np.arange(spec.num_frames, dtype=np.float64)
    H, W, s = spec.height, spec.width, spec.speed
    k = min(H, W) / 128.0
    zeros = np.zeros_like(t)
    cx, cy = np.full_like(t, W / 2), np.full_like(t, H / 2)
    angle, scale, cam = zeros.copy(), np.ones_like(t), zeros.copy()
    theta0 = rng.uniform(-0.3, 0.3)
    if spec.motion == "translation":
        m = radius * 1.1
        # leftwards, the way a camera drift shifts the scene: reversing the clip then reverses
        # every track (Motion Fidelity matches track sets, so opposite subject and background
        # motions would otherwise swap roles under reversal)
        cx = _reflect(0.7 * W - _TRANSLATION_PX * k * s * t, m, W - 1 - m)
        cy = _reflect(0.5 * H + 0.25 * _TRANSLATION_PX * k * s * t, m, H - 1 - m)
    elif spec.motion == "rotation":
        angle = np.deg2rad(_ROTATION_DEG) * s * t
    elif spec.motion == "scaling":
        lo, hi = np.log(_SCALE_RANGE[0]), np.log(_SCALE_RANGE[1])
        scale = np.exp(_reflect(np.log(0.8) + _SCALING_LOG_RATE * s * t, lo, hi))
    elif spec.motion == "pan":
        cam = _PAN_PX * k * s * t           # camera moves right: the whole scene shifts left
        cx = np.full_like(t, 0.6 * W)
    elif spec.motion == "fast":
        rx, ry = 0.5 * W - radius * 1.1, 0.5 * H - radius * 1.1
        omega = _FAST_PX * k * s / min(rx, ry)  # per-frame step at least _FAST_PX pixels
        cx = W / 2 + rx * np.cos(omega * t)
        cy = H / 2 + ry * np.sin(omega * t)
    cam = cam + spec.camera_drift * k * t
    return cx, cy, angle + theta0, scale, cam


def affine(c_canvas, centre, angle, scale) -> np.ndarray:
    """2x3 forward map canvas -> frame: rotate/scale about ``c_canvas``, then move it to ``centre``."""
    ca, sa = scale * np.cos(angle), scale * np.sin(angle)
    R = np.array([[ca, -sa], [sa, ca]])
    return np.hstack([R, (np.asarray(centre) - R @ np.asarray(c_canvas))[:, None]])


def apply_affine(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ M[:, :2].T + M[:, 2]


def invert_affine(M: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(M.astype(np.float64))
