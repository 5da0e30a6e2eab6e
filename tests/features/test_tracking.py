import numpy as np
import pytest

from evalkit.errors import InvalidInputError
from evalkit.features.tracking import Tracks, grid_points, mask_box, points_in_mask


def test_grid_follows_cotracker_layout():
    pts = grid_points(55, 480, 640)
    assert pts.shape == (3025, 2) and pts.dtype == np.float32
    # CoTracker: x, y in [8, 504] × [8, 376] at 512×384, scaled by (W−1)/511, (H−1)/383
    assert pts[0].tolist() == pytest.approx([8 * 639 / 511, 8 * 479 / 383])
    assert pts[-1].tolist() == pytest.approx([504 * 639 / 511, 376 * 479 / 383])
    # row-major: x varies fastest
    assert pts[1, 1] == pts[0, 1] and pts[1, 0] > pts[0, 0]
    assert grid_points(1, 384, 512).tolist() == [[256.0, 192.0]]


def test_mask_box_excludes_max_row_and_column_like_the_official_code():
    mask = np.zeros((20, 30), bool)
    mask[5, 7] = mask[12, 20] = True
    box = mask_box(mask)
    rows, cols = np.nonzero(box)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (5, 11, 7, 19)
    with pytest.raises(InvalidInputError):
        mask_box(np.zeros((4, 4), bool))


def test_points_in_mask_uses_rounded_pixels():
    mask = np.zeros((10, 10), bool)
    mask[2, 3] = True
    pts = np.array([[3.4, 1.6], [3.6, 2.0], [2.6, 2.4]], np.float32)
    assert points_in_mask(pts, mask).tolist() == [True, False, True]


def test_tracks_validate_shapes():
    with pytest.raises(InvalidInputError):
        Tracks(np.zeros((3, 4, 2), np.float32), np.zeros((3, 5), bool))


def test_grid_matches_cotrackers_own_grid_when_its_code_is_present():
    """With a co-tracker checkout in $EVALKIT_COTRACKER_DIR, compare with its grid function."""
    import os
    import sys
    from pathlib import Path

    code = os.environ.get("EVALKIT_COTRACKER_DIR")
    if not code or not (Path(code) / "cotracker").is_dir():
        pytest.skip("set EVALKIT_COTRACKER_DIR to a co-tracker checkout")
    pytest.importorskip("torch")
    sys.path.insert(0, code)
    try:
        from cotracker.models.core.model_utils import get_points_on_a_grid
    finally:
        sys.path.remove(code)
    theirs = get_points_on_a_grid(55, (384, 512))[0].numpy() * [(360 - 1) / 511, (240 - 1) / 383]
    assert np.allclose(grid_points(55, 240, 360), theirs, atol=1e-4)
