"""DINO / CLIP / CLIPSeg backends: the real transformers classes load offline by hub id from
an HF cache (tiny random weights), fail fast and clearly without one, and compute what the
metrics assume (CLS token, projected CLIP embeddings, sigmoid saliency)."""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.errors import MissingWeightsError
from evalkit.features.base import FeatureContext, load_backend
from evalkit.registry import FEATURES

IDS = {"dino-vitb16": "facebook/dino-vitb16", "dino-vits16": "facebook/dino-vits16",
       "clip-vit-b32": "openai/clip-vit-base-patch32", "clip-vit-l14": "openai/clip-vit-large-patch14",
       "clipseg-rd64": "CIDAS/clipseg-rd64-refined"}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    return install_random_models(tmp_path_factory.getbasetemp() / "hf_home", IDS.values())


def frames(n=3, h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_cache_layout_is_the_hub_layout(tiny_models, tmp_path_factory):
    hub = tmp_path_factory.getbasetemp() / "hf_home" / "hub"
    for hub_id, snap in tiny_models.items():
        repo = hub / f"models--{hub_id.replace('/', '--')}"
        rev = (repo / "refs" / "main").read_text()
        assert len(rev) == 40 and int(rev, 16) >= 0
        assert snap == repo / "snapshots" / rev and (snap / "config.json").is_file()


def test_dino_feature_is_the_normalised_cls_token(tiny_models):
    import torch

    dino = load_backend("dino-vitb16")
    assert type(dino.model).__name__ == "ViTModel" and dino.model.pooler is None
    x = frames()
    feats = dino.embed(x)
    with torch.no_grad():
        hidden = dino.model(pixel_values=dino.preprocess(x), interpolate_pos_encoding=True).last_hidden_state
    expected = torch.nn.functional.normalize(hidden[:, 0], dim=-1).numpy()
    np.testing.assert_allclose(feats, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    # batching does not change the numbers
    np.testing.assert_allclose(FEATURES.get("dino-vitb16")(batch_size=1).embed(x), feats, atol=1e-5)


def test_clip_image_and_text_embeddings(tiny_models):
    clip = load_backend("clip-vit-b32")
    assert type(clip.model).__name__ == "CLIPModel"
    assert clip.embed(frames()).shape == (3, 16)
    assert clip.embed_images([frames(1, 30, 50)[0], frames(1, 64, 40)[0]]).shape == (2, 16)
    texts = clip.embed_texts(["a photo of a cat", "a dog"])
    assert texts.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    # the tokenizer saved beside the weights is OpenAI's BPE (known ids for this phrase)
    assert clip.tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_clipseg_saliency_is_a_probability_map(tiny_models):
    seg = load_backend("clipseg-rd64")
    assert type(seg.model).__name__ == "CLIPSegForImageSegmentation"
    sal = seg.saliency(frames(3), "a girl")
    assert sal.shape == (3, 352, 352) and sal.dtype == np.float32
    assert 0.0 <= sal.min() and sal.max() <= 1.0 and sal.std() > 0
    # one frame at a time gives the same maps (the text embedding is shared)
    np.testing.assert_allclose(seg.saliency(frames(3)[1:2], "a girl")[0], sal[1], atol=2e-4)


@pytest.mark.parametrize("name", sorted(IDS))
def test_missing_weights_fail_fast_naming_the_id(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    from evalkit.features.hf_loading import import_transformers

    assert __import__("os").environ["HF_HUB_OFFLINE"] == "1"
    import_transformers()  # import time (seconds on a loaded machine) is not network time
    start = time.monotonic()
    with pytest.raises(MissingWeightsError) as err:
        FEATURES.get(name)()
    assert time.monotonic() - start < 5.0  # no network retries (those take ~23 s per file)
    msg = str(err.value)
    assert IDS[name] in msg and "huggingface-cli download" in msg and "EVALKIT_WEIGHTS_DIR" in msg


def test_weights_dir_folder_is_found(tiny_models, tmp_path, monkeypatch):
    shutil.copytree(tiny_models["facebook/dino-vits16"], tmp_path / "facebook--dino-vits16")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(tmp_path))
    assert FEATURES.get("dino-vits16")().embed(frames(1)).shape == (1, 32)


def test_preprocessing_and_dtype_enter_the_identity(tiny_models):
    vb = FEATURES.get("dino-vitb16")
    a, b = vb(), vb(preprocess="dreambooth-dino")
    assert a.identity != b.identity and a.identity == vb(batch_size=3).identity
    assert vb(dtype="bfloat16").identity != a.identity
    ctx = FeatureContext()
    x = frames(2)
    from evalkit.video import Video
    v = Video(x)
    ctx.features(a, v, "embed", lambda: a.embed(x))
    ctx.features(b, v, "embed", lambda: b.embed(x))
    assert ctx.misses == 2  # different preprocessing never shares a cache entry


def test_bfloat16_runs_and_returns_float32(tiny_models):
    feats = FEATURES.get("clip-vit-b32")(dtype="bfloat16").embed(frames(2))
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
