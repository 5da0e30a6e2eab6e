"""Multi-shot Set Consistency: cross-shot pairs only, identical static shots score 1, a
replaced shot scores lower, empty masks are recorded (or fail the item on request)."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, MultiShotCase
from evalkit.errors import InvalidInputError
from evalkit.features.base import FeatureContext
from evalkit.metrics.set_consistency import SetConsistency, cross_shot_similarity
from evalkit.synthetic import SyntheticSpec, render
from evalkit.video import Video


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["facebook/dino-vitb16", "CIDAS/clipseg-rd64-refined"])


CASE = MultiShotCase("set", "a red ball", tuple(f"a red ball, shot {i}" for i in range(3)))


def shot(seed, motion="static", n=2):
    return render(SyntheticSpec(motion, seed=seed, num_frames=n, height=64, width=80)).video


def test_same_shot_pairs_are_excluded():
    e = np.eye(2, dtype=np.float32)
    # cross pairs (e1,e1)=1 and (e2,e1)=0 -> 0.5; including the (e1,e2) same-shot pair would give 1/3
    assert cross_shot_similarity([e[[0, 1]], e[[0]]]) == pytest.approx(0.5)
    assert cross_shot_similarity([e[[0]], e[[0]], e[[1]]]) == pytest.approx(1 / 3)  # pairs: 1, 0, 0
    with pytest.raises(InvalidInputError, match="two shots"):
        cross_shot_similarity([e[[0]], e[[]]])


def test_identical_static_shots_score_one_and_a_replaced_shot_lowers_it():
    ctx = FeatureContext()
    same = Generation(tuple(shot(0) for _ in range(3)))
    result = SetConsistency()(CASE, same, ctx)
    assert result.value == pytest.approx(1.0, abs=1e-5) and result.details["failed_frames"] == 0
    replaced = Generation((shot(0), shot(0), shot(7, "translation")))
    assert SetConsistency()(CASE, replaced, ctx).value < 1.0 - 1e-3


@pytest.fixture
def blank_saliency_for_black_frames(monkeypatch):
    from evalkit.features.clipseg import ClipSegBackend

    original = ClipSegBackend.saliency

    def saliency(self, frames, text):
        out = original(self, frames, text)
        out[frames.reshape(len(frames), -1).max(axis=1) == 0] = 0.5  # constant map: Otsu finds nothing
        return out

    monkeypatch.setattr(ClipSegBackend, "saliency", saliency)


def test_empty_masks_are_recorded_not_dropped(blank_saliency_for_black_frames):
    frames = shot(0).frames.copy()
    frames[1] = 0
    gen = Generation((shot(0), Video(frames), shot(0)))
    result = SetConsistency()(CASE, gen, FeatureContext())
    assert result.details["failed_frames"] == 1 and result.details["frames"] == 6
    assert result.details["failures"][0].startswith("shot 1 frame 1: saliency map is constant")
    assert result.value == pytest.approx(1.0, abs=1e-5)  # the remaining frames are identical
    with pytest.raises(InvalidInputError, match="set: shot 1 frame 1: saliency map is constant"):
        SetConsistency(on_empty_mask="fail")(CASE, gen, FeatureContext())
    dark = Generation((Video(np.zeros((2, 64, 80, 3), np.uint8)), Video(np.zeros((2, 64, 80, 3), np.uint8), fps=7)))
    with pytest.raises(InvalidInputError, match="fewer than two shots have a subject mask.*4 of 4 frames"):
        SetConsistency()(CASE, dark, FeatureContext())


def test_one_shot_is_an_error():
    with pytest.raises(InvalidInputError, match="at least two shots"):
        SetConsistency()(CASE, Generation((shot(0),)), FeatureContext())
