"""Aesthetic Quality: the real LAION v1 linear head on (tiny) CLIP ViT-L/14 features."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, InlineVideo, MotionTransferCase
from evalkit.errors import MissingWeightsError
from evalkit.features.base import FeatureContext, load_backend
from evalkit.metrics.aesthetic_quality import HEAD_FILE, AestheticQuality, load_head, resolve_head
from evalkit.video import Video


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["openai/clip-vit-large-patch14"])


@pytest.fixture
def head(shared_data):
    path = shared_data / "weights" / "laion_aesthetic" / HEAD_FILE
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return path




def test_score_is_linear_head_over_ten(head):
    weight, bias = load_head(str(head))
    assert weight.shape == (768,)
    video = Video(np.random.default_rng(0).integers(0, 256, (3, 64, 80, 3), dtype=np.uint8))
    case = MotionTransferCase("c", InlineVideo(video), "p")
    clip = load_backend("clip-vit-l14", preprocess="vbench-clip")
    feats = clip.embed(video.frames)
    expected = np.mean((feats @ weight + bias) / 10)
    value = AestheticQuality(head=str(head))(case, Generation((video,)), FeatureContext()).value
    assert value == pytest.approx(expected, abs=1e-6)


def test_head_is_found_in_the_weights_dir(head, tmp_path, monkeypatch):
    (tmp_path / "laion_aesthetic").mkdir()
    shutil.copy(head, tmp_path / "laion_aesthetic" / HEAD_FILE)
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(tmp_path))
    assert resolve_head() == tmp_path / "laion_aesthetic" / HEAD_FILE


def test_missing_head_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=HEAD_FILE):
        resolve_head()
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(MissingWeightsError, match="not a LAION aesthetic linear head"):
        load_head(str(bad))


def test_missing_head_fails_the_item_not_the_plan(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(tmp_path))
    metric = AestheticQuality()
    assert metric.config["head"] == f"missing:{HEAD_FILE}"  # building cache keys does not raise
    video = Video(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(MissingWeightsError, match=HEAD_FILE):
        metric(MotionTransferCase("c", InlineVideo(video), "p"), Generation((video,)), FeatureContext())
