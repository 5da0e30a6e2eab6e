"""Imaging Quality (VBench): MUSIQ score / 100 per frame, mean over frames (and over shots)."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, InlineVideo, MotionTransferCase, MultiShotCase
from evalkit.features.base import FeatureContext
from evalkit.features.shared import backend
from evalkit.metrics.imaging_quality import ImagingQuality
from evalkit.registry import METRICS
from evalkit.synthetic import SyntheticSpec, render

VIDEO = render(SyntheticSpec("translation", num_frames=2, height=48, width=64)).video


@pytest.fixture(scope="module", autouse=True)
def checkpoint(tmp_path_factory):
    from evalkit.errors import MissingDependencyError
    from evalkit.features.musiq import import_musiq, install_random_musiq

    try:
        import_musiq()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    return install_random_musiq(tmp_path_factory.getbasetemp() / "torch_home")


def test_spec_states_the_facts():
    spec = METRICS.get("imaging-quality").spec
    assert spec.higher_is_better and spec.value_range == (0.0, 1.0) and spec.report_scale == 100.0
    assert spec.backends == ("musiq",)


def test_hand_computed_value():
    ctx = FeatureContext()
    case = MotionTransferCase("c", InlineVideo(VIDEO), "p")
    model = backend(ctx, "musiq", preprocess="longer")
    ctx.features(model, VIDEO, "musiq", lambda: np.array([50.0, 74.0]))
    ctx.features(model, VIDEO.reversed(), "musiq", lambda: np.array([40.0, 40.0]))
    assert ImagingQuality()(case, Generation((VIDEO,)), ctx).value == pytest.approx(0.62)
    multi = MultiShotCase("m", "a girl", ("a", "b"))
    result = ImagingQuality()(multi, Generation((VIDEO, VIDEO.reversed())), ctx)
    assert result.value == pytest.approx(0.51) and result.details["per_video"] == pytest.approx([0.62, 0.40])


def test_real_model_value_and_shared_features():
    ctx = FeatureContext()
    case = MotionTransferCase("c", InlineVideo(VIDEO), "p")
    value = ImagingQuality()(case, Generation((VIDEO,)), ctx).value
    model = backend(ctx, "musiq", preprocess="longer")
    assert value == pytest.approx(model.score(VIDEO.frames).mean() / 100.0, rel=1e-5, abs=1e-7)
    misses = ctx.misses
    ImagingQuality()(case, Generation((VIDEO,)), ctx)
    assert ctx.misses == misses  # one MUSIQ pass per video per run
