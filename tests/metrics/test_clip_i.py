"""CLIP-I / DINO-I against reference images: a video made of the reference scores 1."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, ImageFiles, PersonalizationCase
from evalkit.errors import InvalidInputError
from evalkit.features.base import FeatureContext, load_backend
from evalkit.metrics.clip_i import ClipI
from evalkit.metrics.dino_i import DinoI
from evalkit.video import Video


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["facebook/dino-vits16", "openai/clip-vit-base-patch32"])


def make_case(tmp_path, images):
    paths = []
    for i, im in enumerate(images):
        paths.append(tmp_path / f"ref{i}.png")
        Image.fromarray(im).save(paths[-1])
    return PersonalizationCase("p", "dog", "dog", "a sks dog", ImageFiles(tuple(paths)))


@pytest.mark.parametrize("metric", [ClipI, DinoI])
def test_reference_itself_scores_one(metric, tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
    case = make_case(tmp_path, [ref])
    video = Video(np.repeat(ref[None], 3, axis=0))
    assert metric()(case, Generation((video,)), FeatureContext()).value == pytest.approx(1.0, abs=1e-5)


def test_mean_over_frames_and_references(tmp_path):
    rng = np.random.default_rng(1)
    refs = [rng.integers(0, 256, (60, 90, 3), dtype=np.uint8), rng.integers(0, 256, (100, 70, 3), dtype=np.uint8)]
    case = make_case(tmp_path, refs)
    video = Video(rng.integers(0, 256, (3, 64, 80, 3), dtype=np.uint8))
    dino = load_backend("dino-vits16", preprocess="dreambooth-dino")
    expected = np.mean(dino.embed(video.frames) @ dino.embed_images(refs).T)
    result = DinoI()(case, Generation((video,)), FeatureContext())
    assert result.value == pytest.approx(expected, abs=1e-6) and result.details["references"] == 2


def test_no_references_is_an_error():
    case = PersonalizationCase("p", "dog", "dog", "a sks dog", ImageFiles(()))
    video = Video(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(InvalidInputError, match="p: case has no reference images"):
        ClipI()(case, Generation((video,)), FeatureContext())
