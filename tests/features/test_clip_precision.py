"""CLIP backend precision ``openai-fp16``: OpenAI clip.load's CUDA layout (fp16 weights and
activations, LayerNorm in float32 on float32 parameters, fp16 normalisation) on the real
transformers CLIPModel with tiny random weights."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.features.base import load_backend


@pytest.fixture(scope="module", autouse=True)
def tiny_clip(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["openai/clip-vit-base-patch32"])


def frames(n=3, h=64, w=80, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_openai_fp16_layout():
    import torch

    clip = load_backend("clip-vit-b32", precision="openai-fp16")
    mods = list(clip.model.modules())
    norms = [m for m in mods if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(p.dtype == torch.float32 for m in norms for p in m.parameters())
    # clip/model.py convert_weights: Linear/Conv in fp16 (embedding tables are cast at use)
    assert all(m.weight.dtype == torch.float16 for m in mods if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    # clip/model.py LayerNorm: x.type(float32) through the float32 norm, back to the input's fp16
    norm = norms[0]
    x = torch.randn(2, 5, norm.normalized_shape[0]).half()
    with torch.no_grad():
        out = norm(x)
        ref = torch.nn.functional.layer_norm(x.float(), norm.normalized_shape, norm.weight, norm.bias,
                                             norm.eps).half()
    assert out.dtype == torch.float16 and torch.equal(out, ref)


def test_openai_fp16_embeddings_are_fp16_unit_vectors_near_float32():
    fp16 = load_backend("clip-vit-b32", preprocess="vbench-clip", precision="openai-fp16")
    fp32 = load_backend("clip-vit-b32", preprocess="vbench-clip")
    for a, b in ((fp16.embed(frames()), fp32.embed(frames())),
                 (fp16.embed_texts(["a cat", "a dog"]), fp32.embed_texts(["a cat", "a dog"]))):
        assert a.dtype == np.float32 and np.array_equal(a.astype(np.float16).astype(np.float32), a)
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=2e-3)
        assert 0 < np.abs(a - b).max() < 5e-3  # fp16 rounding, not another model


def test_openai_fp16_needs_the_float32_run_dtype():
    from evalkit.registry import FEATURES

    with pytest.raises(ValueError, match="openai-fp16"):
        FEATURES.get("clip-vit-b32")(dtype="float16", precision="openai-fp16")
