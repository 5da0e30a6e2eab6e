"""The synthetic benchmark's ground truth is exact: masks, centres and tracks agree with the pixels."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from evalkit import synthetic
from evalkit.cases import MotionTransferCase
from evalkit.errors import EvalkitError, InvalidInputError
from evalkit.registry import DATASETS
from evalkit.synthetic import MOTIONS, SyntheticMasks, SyntheticSource, SyntheticSpec, render


def _bilinear(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    mx = pts[:, 0].astype(np.float32)[None]
    my = pts[:, 1].astype(np.float32)[None]
    return cv2.remap(img.astype(np.float32), mx, my, cv2.INTER_LINEAR)[0]


@pytest.mark.parametrize("motion", MOTIONS)
def test_shapes_and_types(motion):
    spec = SyntheticSpec(motion, num_frames=6, height=64, width=80, num_points=20)
    clip = render(spec)
    assert clip.video.frames.shape == (6, 64, 80, 3) and clip.video.frames.dtype == np.uint8
    assert clip.masks.shape == (6, 64, 80) and clip.masks.dtype == bool
    assert clip.tracks.shape == (6, 20, 2) and clip.tracks.dtype == np.float32
    assert clip.visible.shape == (6, 20) and clip.visible.dtype == bool
    assert clip.visible[0].all()          # points are placed where frame 0 shows them
    assert clip.on_subject.sum() == 10
    assert clip.video.fps == 8.0 and clip.spec is spec
    assert not clip.video.frames.flags.writeable  # memoised: read-only


def test_deterministic_from_seed():
    spec = SyntheticSpec("rotation", seed=3, num_frames=5)
    a = synthetic.render.__wrapped__(spec)   # bypass the memo: really render twice
    b = synthetic.render.__wrapped__(SyntheticSpec("rotation", seed=3, num_frames=5))
    np.testing.assert_array_equal(a.video.frames, b.video.frames)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.tracks, b.tracks)
    np.testing.assert_array_equal(a.visible, b.visible)
    assert render(spec) is render(SyntheticSpec("rotation", seed=3, num_frames=5))  # memoised


def test_different_seeds_differ():
    a, b = render(SyntheticSpec("translation", seed=0)), render(SyntheticSpec("translation", seed=1))
    assert np.abs(a.video.frames.astype(int) - b.video.frames.astype(int)).mean() > 10
    assert not np.allclose(a.tracks, b.tracks)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("motion", MOTIONS)
def test_mask_is_where_the_subject_is(motion, seed):
    clip = render(SyntheticSpec(motion, seed=seed))
    f = clip.video.frames.astype(np.float64)
    subj_mean = f[0][clip.masks[0]].mean(0)
    bg_mean = f[0][~clip.masks[0]].mean(0)
    assert np.linalg.norm(subj_mean - bg_mean) > 60   # subject and background look different
    for t in range(len(f)):
        ds = np.linalg.norm(f[t] - subj_mean, axis=-1)
        db = np.linalg.norm(f[t] - bg_mean, axis=-1)
        inner = ndimage.binary_erosion(clip.masks[t], iterations=2)
        outer = ndimage.binary_erosion(~clip.masks[t], iterations=2)
        assert (ds < db)[inner].mean() > 0.97, t   # mask pixels have the subject's colours
        assert (db < ds)[outer].mean() > 0.97, t   # the rest has the background's
        # the mask's centroid is the image of the shape's centroid under frame t's affine map
        ys, xs = np.nonzero(clip.masks[t])
        assert abs(xs.mean() - clip.centres[t, 0]) < 0.3 and abs(ys.mean() - clip.centres[t, 1]) < 0.3, t


def test_trajectories_follow_the_spec():
    tr = render(SyntheticSpec("translation")).centres
    np.testing.assert_allclose(np.diff(tr, axis=0), [[-1.5, 0.375]] * 23, atol=1e-9)  # 1.5 px/frame left
    fast = np.linalg.norm(np.diff(render(SyntheticSpec("fast")).centres, axis=0), axis=1)
    assert fast.min() > 7.9                                  # well above dynamic-degree thresholds
    slow = render(SyntheticSpec("fast", speed=0.5)).centres  # half speed: same path, twice the frames
    np.testing.assert_allclose(slow[::2], render(SyntheticSpec("fast")).centres[:12], atol=1e-9)
    sc = render(SyntheticSpec("scaling"))
    area = sc.masks.sum(axis=(1, 2))
    assert area[-1] > 1.8 * area[0]                          # grows (0.8 -> ~1.27 linear)
    np.testing.assert_allclose(sc.centres, sc.centres[:1].repeat(24, 0), atol=1e-9)
    rot = render(SyntheticSpec("rotation"))
    assert (rot.masks[0] != rot.masks[-1]).sum() > 50 or rot.shape == "disc"


@pytest.mark.parametrize("motion", MOTIONS)
def test_tracked_points_keep_their_colour(motion):
    clip = render(SyntheticSpec(motion, seed=1))
    f = clip.video.frames
    ref = _bilinear(f[0], clip.tracks[0])
    for t in range(1, len(f)):
        # skip points within 2.5 px of the subject's edge (bilinear mixes the two sides)
        edge = np.maximum(ndimage.distance_transform_edt(clip.masks[t]),
                          ndimage.distance_transform_edt(~clip.masks[t]))
        p = clip.tracks[t]
        ok = clip.visible[t].copy()
        pi = np.rint(p[ok]).astype(int)
        ok[ok] = edge[pi[:, 1], pi[:, 0]] >= 2.5
        assert ok.sum() >= 10
        err = np.abs(_bilinear(f[t], p[ok]) - ref[ok])
        assert err.mean() < 1.5 and np.percentile(err, 95) < 6, (t, err.mean())
        # and a wrong ground truth (shifted by 3 px) would be caught
        if motion != "static":
            wrong = np.abs(_bilinear(f[t], p[ok] + 3.0) - ref[ok]).mean()
            assert wrong > 3 * err.mean() + 2


def test_static_video_has_identical_frames():
    clip = render(SyntheticSpec("static"))
    assert (clip.video.frames == clip.video.frames[:1]).all()
    assert (clip.masks == clip.masks[:1]).all()
    assert (clip.tracks == clip.tracks[:1]).all()


def test_pan_moves_background_and_subject_together():
    clip = render(SyntheticSpec("pan"))
    f, m = clip.video.frames, clip.masks
    bg = ~clip.on_subject
    for t in (1, 5, 10):
        shift = 2 * t  # 2 px per frame to the left (integer: exact resampling)
        both_bg = ~m[t][:, : 160 - shift] & ~m[0][:, shift:]
        assert (f[t][:, : 160 - shift][both_bg] == f[0][:, shift:][both_bg]).all()
        assert (f[t] != f[0]).any(axis=-1).mean() > 0.3
        np.testing.assert_allclose(clip.tracks[t] - clip.tracks[0], [[-shift, 0]] * 64, atol=1e-4)
    # background points leave the frame on the left and become invisible
    left = clip.tracks[-1, bg, 0] < 0
    assert left.any() and not clip.visible[-1, bg][left].any()


def test_occluded_background_points_are_invisible():
    clip = render(SyntheticSpec("fast"))
    bg = ~clip.on_subject
    pts = np.rint(clip.tracks[:, bg]).astype(int)
    inside = np.zeros(pts.shape[:2], bool)
    for t in range(len(pts)):
        ok = (pts[t, :, 0] >= 0) & (pts[t, :, 0] < 160) & (pts[t, :, 1] >= 0) & (pts[t, :, 1] < 128)
        inside[t, ok] = clip.masks[t][pts[t, ok, 1], pts[t, ok, 0]]
    assert inside.any()                             # the fast subject passes over some points
    assert not (clip.visible[:, bg] & inside).any()


def test_fingerprints_are_stable_and_change_with_the_spec(monkeypatch):
    spec = SyntheticSpec("translation")
    fp = SyntheticSource(spec).fingerprint()
    assert fp == SyntheticSource(SyntheticSpec("translation")).fingerprint()
    assert fp != SyntheticSource(SyntheticSpec("translation", seed=1)).fingerprint()
    assert fp != SyntheticSource(SyntheticSpec("translation", num_frames=23)).fingerprint()
    assert fp != SyntheticMasks(spec).fingerprint()
    assert fp == SyntheticSource(SyntheticSpec("translation", speed=1, fps=8)).fingerprint()  # int == float
    monkeypatch.setattr(synthetic, "RENDERER_VERSION", "test-bump")
    assert SyntheticSource(spec).fingerprint() != fp


def test_source_and_masks_load():
    spec = SyntheticSpec("scaling", num_frames=4)
    assert SyntheticSource(spec).load() is render(spec).video
    assert SyntheticMasks(spec).load() is render(spec).masks
    assert SyntheticSource(spec).masks().shape == (4, 128, 160)


def test_bad_spec_is_rejected():
    with pytest.raises(InvalidInputError, match="zoom"):
        SyntheticSpec("zoom")


def test_dataset_cases():
    ds = DATASETS.get("synthetic")(seeds=(0, 1), motions=MOTIONS)
    cases = ds.cases()
    assert len(cases) == 2 * len(MOTIONS)
    assert all(isinstance(c, MotionTransferCase) and c.kind == "motion-transfer" for c in cases)
    assert len({c.case_id for c in cases}) == len(cases)
    assert {c.category for c in cases} == set(MOTIONS)
    c = cases[0]
    assert c.target_prompt and c.source_prompt and c.subject and c.source_subject
    assert c.subject in c.target_prompt and c.source_subject in c.source_prompt
    assert c.meta["motion"] == c.category and c.meta["num_frames"] == 16
    assert c.source_mask.load().shape == (16, 128, 160)
    # content hash: stable across constructions, different between cases
    again = DATASETS.get("synthetic")(seeds=[0, 1], motions=MOTIONS).cases()
    assert [x.content_hash() for x in cases] == [x.content_hash() for x in again]
    assert len({x.content_hash() for x in cases}) == len(cases)
    # the prompt's colour/shape names the rendered subject
    clip = c.source.clip()
    assert c.source_subject == clip.description


def test_dataset_default_is_small():
    cases = DATASETS.get("synthetic")().cases()   # the README quick start runs all of these
    assert [c.category for c in cases] == [m for m in MOTIONS if m != "static"]
    assert all(c.meta["num_frames"] == 16 and c.meta["seed"] == 0 for c in cases)
    assert all(c.meta["camera_drift"] == 0.5 for c in cases)


def test_camera_drift_moves_every_track():
    still = render(SyntheticSpec("rotation", num_frames=6))
    drift = render(SyntheticSpec("rotation", num_frames=6, camera_drift=1.0))
    bg = ~still.on_subject
    assert np.allclose(np.diff(still.tracks[:, bg], axis=0), 0)
    np.testing.assert_allclose(np.diff(drift.tracks[:, bg], axis=0)[..., 0], -1.0, atol=1e-6)
    with pytest.raises(InvalidInputError):
        SyntheticSpec("static", camera_drift=1.0)


def test_dataset_options():
    ds = DATASETS.get("synthetic")(motions="pan,static", seeds="3", num_frames=5)
    cases = ds.cases()
    assert [c.category for c in cases] == ["pan", "static"]
    assert cases[0].source.load().num_frames == 5 and cases[0].meta["seed"] == 3
    with pytest.raises(EvalkitError, match="zoom"):
        DATASETS.get("synthetic")(motions=["zoom"]).cases()
