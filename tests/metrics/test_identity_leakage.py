"""Identity Leakage: known answers on hand features and on videos through tiny real DINO."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, InlineVideo, MotionTransferCase, MultiShotCase
from evalkit.errors import EvalkitError, InvalidInputError
from evalkit.features.base import FeatureContext
from evalkit.metrics.identity_leakage import IdentityLeakage, identity_leakage
from evalkit.registry import METRICS
from evalkit.synthetic import SyntheticSpec, render


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["facebook/dino-vitb16"])


def score(source, generated, **options):
    case = MotionTransferCase("c", InlineVideo(source), "a cat")
    return IdentityLeakage(**options)(case, Generation((generated,)), FeatureContext()).value


def test_formula_on_hand_features():
    e = np.eye(3, dtype=np.float32)
    src, gen = e[[0, 1]], e[[0, 2]]
    assert identity_leakage(src, gen, "matched") == pytest.approx(0.5)   # (1 + 0) / 2
    assert identity_leakage(src, gen, "all") == pytest.approx(0.25)      # 1 of 4 pairs
    with pytest.raises(InvalidInputError, match="time-aligned"):            # pair by time first
        identity_leakage(e[[0]], e[[0, 0, 1]], "matched")


def test_video_against_itself_is_one():
    video = render(SyntheticSpec("translation", num_frames=6, height=64, width=80)).video
    assert score(video, video, pairing="matched") == pytest.approx(1.0, abs=1e-5)
    static = render(SyntheticSpec("static", num_frames=4, height=64, width=80)).video
    assert score(static, static) == pytest.approx(1.0, abs=1e-5)
    # all-pairs on a moving video compares different frames: below the matched score
    assert score(video, video) < 1.0 - 1e-4


def test_spec_and_guards():
    spec = METRICS.get("identity-leakage").spec
    assert spec.higher_is_better is False and spec.report_scale == 100 and spec.backends[0] == "dino-vitb16"
    with pytest.raises(EvalkitError, match="pairing"):
        IdentityLeakage(pairing="diagonal")
    video = render(SyntheticSpec("static", num_frames=2, height=64, width=80)).video
    with pytest.raises(EvalkitError, match="does not apply"):
        IdentityLeakage()(MultiShotCase("m", "a cat", ("p",)), Generation((video,)), FeatureContext())


def test_dit_frame_rule_is_aligned_by_time():
    """App. A.1.1: each source frame twice, the last once more, at twice the fps. Matched by
    time the generated frames are the source frames (1.0); truncation matched frame i with i//2."""
    video = render(SyntheticSpec("translation", num_frames=6, height=64, width=80, speed=4)).video
    dit = video.with_frames(video.frames[np.r_[np.repeat(np.arange(6), 2), 5]], fps=2 * video.fps)
    assert score(video, dit, pairing="matched") == pytest.approx(1.0, abs=1e-5)
    case = MotionTransferCase("c", InlineVideo(video), "a cat")
    res = IdentityLeakage()(case, Generation((dit,)), FeatureContext())
    assert res.value == pytest.approx(score(video, video), abs=1e-6)      # all pairs of the same frames
    assert res.details["time_alignment"]["generated"]["used"] == [0, 2, 4, 6, 8, 10]
