import numpy as np
import pytest

from evalkit.analyses.pck import pck, position_accuracy
from evalkit.errors import InvalidInputError


def test_pck_image_convention_known_answer():
    gt = np.zeros((2, 4, 2))
    pred = gt.copy()
    pred[0, :, 0] = [0, 4, 6, 100]      # image 0: errors 0, 4, 6, 100 px
    pred[1, :, 0] = [0, 0, 9, 0]        # image 1: one error of 9 px
    res = pck(pred, gt, 0.05, image_size=(100, 120))   # threshold 0.05·120 = 6 px (inclusive)
    assert res.per_point == pytest.approx(6 / 8)
    assert res.per_image == pytest.approx((3 / 4 + 3 / 4) / 2)


def test_invisible_and_unannotated_points_are_excluded():
    gt = np.zeros((2, 3, 2))
    pred = gt + [[[0, 0], [50, 0], [0, 0]], [[50, 0], [50, 0], [0, 0]]]
    vis = np.array([[True, False, True], [False, False, False]])
    res = pck(pred, gt, 0.05, visible=vis, image_size=(100, 100))
    assert res.per_point == 1.0 and res.per_image == 1.0 and res.num_images == 1 and res.num_points == 2
    gt_nan = gt.copy()
    gt_nan[0, 1] = np.nan
    assert pck(pred, gt_nan, 0.05, image_size=(100, 100)).num_points == 5
    with pytest.raises(InvalidInputError):
        pck(pred, gt, 0.05, visible=np.zeros((2, 3), bool), image_size=(100, 100))


def test_bbox_convention():
    gt = np.array([[[10, 10], [30, 20]]], float)          # box 20 × 10 → L = 20
    pred = gt + [[[1.0, 0], [1.5, 0]]]
    assert pck(pred, gt, 0.05, convention="bbox").per_point == 0.5          # threshold 1 px
    assert pck(pred, gt, 0.05, convention="bbox", bbox=[0, 0, 40, 10]).per_point == 1.0


def test_position_accuracy_tapvid_thresholds_are_strict():
    gt = np.zeros((1, 5, 2))
    pred = gt + np.array([0.5, 1.0, 3.0, 8.0, 20.0])[None, :, None] * [1, 0]
    acc = position_accuracy(pred, gt)
    assert [acc[f"<{d}px"] for d in (1, 2, 4, 8, 16)] == [0.2, 0.4, 0.6, 0.6, 0.8]
    assert acc["avg"] == pytest.approx(0.52)
