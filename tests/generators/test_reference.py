"""Reference generators give exact, known answers."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from evalkit.cases import Generation, InlineVideo, MotionTransferCase, MultiShotCase, StageTimings
from evalkit.errors import EvalkitError
from evalkit.registry import GENERATORS
from evalkit.video import Video

NAMES = ("copy", "static", "reverse", "shuffle", "recolor", "noise")


def _case(frames: np.ndarray) -> MotionTransferCase:
    return MotionTransferCase("t", InlineVideo(Video(frames, 8.0, "src")), "a dog running")


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    from evalkit.synthetic import SyntheticSpec, render
    return np.array(render(SyntheticSpec("translation", num_frames=8, height=64, width=80)).video.frames)


def gen(name: str, **options):
    return GENERATORS.get(name)(**options)


@pytest.mark.parametrize("name", NAMES)
def test_contract(name, source):
    g = gen(name)
    assert g.weight_free and g.case_kinds == ("motion-transfer",)
    out = g(_case(source), seed=0)
    assert isinstance(out, Generation) and out.timings == StageTimings() and out.timings.total == 0
    assert out.video.frames.shape == source.shape and out.video.frames.dtype == np.uint8
    assert out.video.fps == 8.0
    with pytest.raises(EvalkitError, match=name):
        g(MultiShotCase("m", "a girl", ("a", "b")), seed=0)


def test_copy_is_bit_exact(source):
    np.testing.assert_array_equal(gen("copy")(_case(source), 0).video.frames, source)


def test_static_repeats_frame_zero(source):
    out = gen("static")(_case(source), 0).video.frames
    assert (out == source[:1]).all()


def test_reverse(source):
    out = gen("reverse")(_case(source), 0).video.frames
    np.testing.assert_array_equal(out, source[::-1])
    twice = gen("reverse")(_case(out), 0).video.frames
    np.testing.assert_array_equal(twice, source)


def _order(out: np.ndarray, frames: np.ndarray) -> list[int]:
    """Index of each output frame in the (all-distinct) source frames."""
    return [int(np.flatnonzero((frames == f).all(axis=(1, 2, 3)))[0]) for f in out]


def test_shuffle_is_a_seeded_non_identity_permutation():
    frames = np.repeat(np.arange(10, dtype=np.uint8)[:, None, None, None], 3, axis=-1)
    frames = np.broadcast_to(frames, (10, 4, 5, 3)).copy()
    o0 = _order(gen("shuffle")(_case(frames), 0).video.frames, frames)
    assert sorted(o0) == list(range(10)) and o0 != list(range(10))
    assert o0 == _order(gen("shuffle")(_case(frames), 0).video.frames, frames)
    assert o0 != _order(gen("shuffle")(_case(frames), 1).video.frames, frames)
    two = frames[:2]
    for seed in range(8):  # with 2 frames the only non-identity permutation is the swap
        np.testing.assert_array_equal(gen("shuffle")(_case(two), seed).video.frames, two[::-1])


def _hsv(frames: np.ndarray) -> np.ndarray:
    t, h, w, _ = frames.shape
    return cv2.cvtColor(frames.reshape(t * h, w, 3).astype(np.float32) / 255, cv2.COLOR_RGB2HSV)


def test_recolor_rotates_hue_and_keeps_structure(source):
    out = gen("recolor")(_case(source), 0).video.frames
    a, b = _hsv(source), _hsv(out)
    np.testing.assert_allclose(b[..., 2], a[..., 2], atol=1 / 255 + 1e-6)  # value (max of RGB) kept
    sat = (a[..., 1] > 0.3) & (a[..., 2] > 0.2)
    assert sat.mean() > 0.5
    dh = np.mod(b[..., 0] - a[..., 0], 360.0)[sat]
    assert np.median(np.abs(dh - 120.0)) < 1.0                 # hue rotated by 120 degrees
    assert np.abs(out.astype(int) - source.astype(int)).mean() > 20
    # pure colours map exactly: red -> green -> blue -> red
    prim = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]], np.uint8)
    np.testing.assert_array_equal(gen("recolor")(_case(prim), 0).video.frames,
                                  [[[[0, 255, 0], [0, 0, 255], [255, 0, 0]]]])
    # 0 degrees is the identity (up to rounding); 360 too
    for deg in (0.0, 360.0):
        same = gen("recolor", hue=deg)(_case(source), 0).video.frames
        assert np.abs(same.astype(int) - source.astype(int)).max() <= 1


def test_recolor_keeps_the_subject_mask():
    from evalkit.synthetic import SyntheticSpec, render
    clip = render(SyntheticSpec("rotation", num_frames=4))
    out = gen("recolor")(_case(np.array(clip.video.frames)), 0).video.frames
    # the subject is still separable from the background by colour (at new colours)
    f = out.astype(float)
    for t in range(4):
        m = clip.masks[t]
        assert np.linalg.norm(f[t][m].mean(0) - f[t][~m].mean(0)) > 50


def test_noise(source):
    a = gen("noise")(_case(source), 0).video.frames
    assert a.shape == source.shape
    np.testing.assert_array_equal(a, gen("noise")(_case(source), 0).video.frames)
    b = gen("noise")(_case(source), 1).video.frames
    assert (a != b).mean() > 0.9
    assert abs(a.mean() - 127.5) < 2 and a.min() == 0 and a.max() == 255


def test_unknown_option():
    with pytest.raises(EvalkitError, match="hue_degrees"):
        gen("recolor", hue_degrees=3)
    with pytest.raises(EvalkitError, match="hue"):
        gen("recolor", hue="green")
    assert gen("recolor", hue="90").angle == 90.0  # command-line strings are numbers too
