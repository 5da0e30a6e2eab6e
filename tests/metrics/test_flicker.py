"""Temporal Flicker: known answers (VBench definition)."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.cases import Generation, ImageFiles, InlineVideo, MotionTransferCase, MultiShotCase, PersonalizationCase
from evalkit.errors import EvalkitError, InvalidInputError
from evalkit.features.base import FeatureContext
from evalkit.metrics.flicker import TemporalFlicker, temporal_flicker
from evalkit.registry import GENERATORS, METRICS
from evalkit.video import Video


def V(frames, origin="v") -> Video:
    return Video(np.asarray(frames, np.uint8), 8.0, origin)


def score(frames) -> float:
    video = V(frames)
    case = MotionTransferCase("c", InlineVideo(video), "p")
    return TemporalFlicker()(case, Generation((video,)), FeatureContext()).value


def test_static_video_is_exactly_one():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 9, 7, 3), dtype=np.uint8)
    assert score(np.repeat(frame, 5, axis=0)) == 1.0


def test_alternating_black_white_is_exactly_zero():
    frames = np.zeros((6, 4, 5, 3), np.uint8)
    frames[1::2] = 255
    assert score(frames) == 0.0


def test_hand_computed_value():
    # 3 frames of 1x2 pixels: pair 0->1 changes one channel by 30 (MAE 30/6 = 5),
    # pair 1->2 one pixel's red by 60 (MAE 60/6 = 10); mean MAE 7.5 -> (255 - 7.5) / 255
    f0 = [[[0, 0, 0], [100, 100, 100]]]
    f1 = [[[30, 0, 0], [100, 100, 100]]]
    f2 = [[[30, 0, 0], [40, 100, 100]]]
    assert score([f0, f1, f2]) == pytest.approx(247.5 / 255, abs=1e-15)


def test_no_uint8_overflow():
    # |5 - 250| = 245; wrapped uint8 subtraction would give 11
    frames = np.array([np.full((2, 2, 3), 5), np.full((2, 2, 3), 250)], np.uint8)
    assert score(frames) == pytest.approx(10 / 255, abs=1e-15)


def test_small_random_video_matches_the_formula():
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (4, 3, 5, 3), dtype=np.uint8)
    f = frames.astype(np.float64)
    maes = [np.abs(f[t] - f[t + 1]).mean() for t in range(3)]
    expected = (255 - sum(maes) / 3) / 255
    assert score(frames) == pytest.approx(expected, abs=1e-12)
    # uniform noise: E|U - V| = (256^2 - 1) / (3 * 256) = 85.33 grey levels
    big = rng.integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    assert score(big) == pytest.approx((255 - 65535 / 768) / 255, abs=2e-3)


def test_one_frame_video_is_an_error_naming_the_video():
    with pytest.raises(InvalidInputError, match="lonely.mp4.*2 frames"):
        temporal_flicker(V(np.zeros((1, 4, 4, 3)), origin="lonely.mp4"))
    video = V(np.zeros((1, 4, 4, 3)), origin="lonely.mp4")
    case = MotionTransferCase("case-7", InlineVideo(video), "p")
    with pytest.raises(InvalidInputError, match="case-7: lonely.mp4"):
        TemporalFlicker()(case, Generation((video,)), FeatureContext())


def test_multi_shot_is_the_mean_over_shots():
    still = V(np.zeros((3, 4, 4, 3)))
    blink = V(np.stack([np.zeros((4, 4, 3)), np.full((4, 4, 3), 255)]))
    case = MultiShotCase("ms", "a girl", ("a", "b"))
    res = TemporalFlicker()(case, Generation((still, blink)), FeatureContext())
    assert res.value == 0.5 and res.details["per_video"] == [1.0, 0.0]
    with pytest.raises(InvalidInputError, match="ms shot 1"):
        TemporalFlicker()(case, Generation((still, V(np.zeros((1, 4, 4, 3))))), FeatureContext())


def test_personalization_case():
    case = PersonalizationCase("p", "dog", "dog", "a sks dog swimming", ImageFiles(()))
    frames = np.zeros((3, 2, 2, 3), np.uint8)
    frames[1] = 51  # MAE 51 then 51 -> (255 - 51) / 255 = 0.8
    assert TemporalFlicker()(case, Generation((V(frames),)), FeatureContext()).value == pytest.approx(0.8)


def test_spec_and_registration():
    cls = METRICS.get("temporal-flicker")
    assert cls is TemporalFlicker
    s = cls.spec
    assert s.higher_is_better and s.value_range == (0.0, 1.0) and s.report_scale == 100.0
    assert set(s.case_kinds) == {"motion-transfer", "multi-shot", "personalization"}
    assert "VBench" in s.reference and s.backends == ()
    with pytest.raises(EvalkitError):
        cls(backend="raft")


def test_reference_generators_on_synthetic_clip():
    from evalkit.synthetic import SyntheticSource, SyntheticSpec
    case = MotionTransferCase("syn", SyntheticSource(SyntheticSpec("translation", num_frames=8)), "p")
    ctx = FeatureContext()
    m = TemporalFlicker()
    got = {name: m(case, GENERATORS.get(name)()(case, 0), ctx).value
           for name in ("copy", "static", "reverse", "shuffle", "noise")}
    assert got["static"] == 1.0
    assert got["reverse"] == pytest.approx(got["copy"], abs=1e-15)   # same pairs, reversed
    assert 0.9 < got["copy"] < 1.0
    assert got["shuffle"] < got["copy"]                              # jumps between far-apart frames
    assert got["noise"] == pytest.approx(0.6654, abs=3e-3)
