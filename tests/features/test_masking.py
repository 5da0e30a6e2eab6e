"""Otsu subject masks (set consistency's masking step) recover known masks from a saliency map.

Stand-in saliency (CLIPSeg weights cannot be had here): the ground-truth mask brought to
CLIPSeg's 352×352 output grid (area resampling), optionally blurred, mapped to 0.1/0.9 and
with Gaussian noise of std ``sigma``, clipped to [0, 1]. The Otsu mask is upsampled back to
the frame size by the production code and compared with the ground truth by IoU.

Measured (seed 0): synthetic suite, blur 2 px + sigma 0.1: min IoU 0.976 over all motions;
DAVIS noise-free (resampling only): blackswan 0.985, car-roundabout 0.991, libby 0.942,
bmx-trees 0.819 (thin bicycle and rider lost at 352 px); DAVIS sigma 0.1 on subjects >= 5 %
of the frame: min 0.985 (blackswan), 0.991 (car-roundabout). Otsu breaks down for subjects
under ~2 % of the frame with i.i.d. noise (bmx-trees, libby: IoU down to 0.01) because the
between-class variance favours splitting the background's noise: documented in
docs/metrics/identity.md, and the reason to keep masks' failure counts in the details.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from evalkit.features.masking import apply_mask, iou, otsu_mask
from evalkit.synthetic import MOTIONS, SyntheticSpec, render
from evalkit.video import read_masks


def stand_in_saliency(gt: np.ndarray, rng, sigma: float = 0.1, blur: float = 0.0) -> np.ndarray:
    m = cv2.resize(gt.astype(np.float32), (352, 352), interpolation=cv2.INTER_AREA)
    if blur:
        m = cv2.GaussianBlur(m, (0, 0), blur)
    return np.clip(0.1 + 0.8 * m + rng.normal(0, sigma, m.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("motion", MOTIONS)
def test_otsu_recovers_synthetic_masks(motion):
    clip = render(SyntheticSpec(motion, seed=1, num_frames=12))
    rng = np.random.default_rng(0)
    ious = [iou(otsu_mask(stand_in_saliency(gt, rng, 0.1, blur=2.0), gt.shape)[0], gt) for gt in clip.masks]
    assert min(ious) >= 0.95, ious  # measured min 0.976


@pytest.mark.parametrize("seq, floor", [("blackswan", 0.97), ("car-roundabout", 0.97),
                                         ("libby", 0.9), ("bmx-trees", 0.75)])
def test_otsu_on_davis_ground_truth(shared_data, seq, floor):
    gt = read_masks(shared_data / "davis" / "Annotations" / "480p" / seq)[::6]
    rng = np.random.default_rng(0)
    clean = [iou(otsu_mask(stand_in_saliency(g, rng, 0.0), g.shape)[0], g) for g in gt]
    assert min(clean) >= floor, clean  # the 352-px grid's resampling loss alone
    big = [g for g in gt if g.mean() >= 0.05]
    noisy = [iou(otsu_mask(stand_in_saliency(g, rng, 0.1), g.shape)[0], g) for g in big]
    assert all(v >= 0.95 for v in noisy), noisy  # measured >= 0.985 on blackswan, car-roundabout


def test_constant_saliency_is_a_failure_with_a_reason():
    mask, reason = otsu_mask(np.full((352, 352), 0.3, np.float32), (64, 80))
    assert mask is None and "constant" in reason
    mask, reason = otsu_mask(np.full((8, 8), np.nan, np.float32))
    assert mask is None and "non-finite" in reason


def test_mask_is_upsampled_and_background_blacked_out():
    sal = np.zeros((352, 352), np.float32)
    sal[88:264, 88:264] = 1.0  # the middle half of each side
    mask, _ = otsu_mask(sal, (100, 200))
    assert mask.shape == (100, 200) and mask[50, 100] and not mask[5, 5]
    assert abs(mask.mean() - 0.25) < 0.02
    frame = np.full((100, 200, 3), 77, np.uint8)
    out = apply_mask(frame, mask)
    assert (out[mask] == 77).all() and (out[~mask] == 0).all()
