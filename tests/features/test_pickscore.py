"""PickScore backend: the real CLIPModel class loads offline by hub id (tiny random weights in a
temporary HF cache), the tokenizer comes from the LAION ViT-H/14 repo, and a missing model or
tokenizer fails fast naming its id."""
from __future__ import annotations

import math
import shutil
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.errors import MissingWeightsError
from evalkit.features.base import load_backend
from evalkit.features.pickscore import MODEL_ID, PROCESSOR_ID
from evalkit.registry import FEATURES
from evalkit.testing.random_pickscore import install_random_pickscore


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return install_random_pickscore(tmp_path_factory.getbasetemp() / "hf_home")


def frames(n=3, h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_loads_by_hub_id_with_the_laion_tokenizer(tiny, tmp_path_factory):
    import torch

    ps = load_backend("pickscore", preprocess="clip")
    assert type(ps.model).__name__ == "CLIPModel"
    assert ps.logit_scale == pytest.approx(math.exp(ps.model.config.logit_scale_init_value), rel=1e-6)
    # image features: projected pooled CLS of the CLIP-preprocessed frame, unit length
    x = frames()
    feats = ps.embed(x)
    with torch.no_grad():
        pooled = ps.model.vision_model(pixel_values=ps.preprocess(x)).pooler_output
        expected = torch.nn.functional.normalize(ps.model.visual_projection(pooled), dim=-1).numpy()
    np.testing.assert_allclose(feats, expected, atol=1e-5)
    texts = ps.embed_texts(["a photo of a cat", "a dog"])
    assert texts.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    # the tokenizer is the one saved under the LAION id (OpenAI's BPE: known ids)
    assert str(tiny[PROCESSOR_ID]) in ps.tokenizer.name_or_path
    assert ps.tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_missing_model_fails_fast_naming_the_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    from evalkit.features.hf_loading import import_transformers

    import_transformers()  # import time is not network time
    start = time.monotonic()
    with pytest.raises(MissingWeightsError) as err:
        FEATURES.get("pickscore")()
    assert time.monotonic() - start < 5.0
    msg = str(err.value)
    assert MODEL_ID in msg and "huggingface-cli download" in msg and "EVALKIT_WEIGHTS_DIR" in msg


def test_missing_tokenizer_names_the_laion_id(tiny, tmp_path, monkeypatch):
    # the model alone, as a local folder in EVALKIT_WEIGHTS_DIR; no hub cache
    shutil.copytree(tiny[MODEL_ID], tmp_path / MODEL_ID.replace("/", "--"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="tokenizer weights 'laion/CLIP-ViT-H-14-laion2B-s32B-b79K'"):
        FEATURES.get("pickscore")()


def test_only_the_reference_preprocessing_is_offered():
    from evalkit.errors import EvalkitError

    with pytest.raises(EvalkitError, match="preprocess"):
        FEATURES.get("pickscore")(preprocess="vbench-clip")
