"""DINO v1 as VBench runs it (facebookresearch/dino vision_transformer.py through torch.hub):
position embeddings interpolated with DINO's scale factor, LayerNorm eps 1e-6. Both pinned
from the definitions, on the real transformers ViTModel with tiny random weights whose
config says eps 1e-12, as the facebook/dino-vit*16 hub configs do."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.features.base import load_backend
from evalkit.features.dino import DINO_LAYER_NORM_EPS, dino_v1_position_embeddings


@pytest.fixture(scope="module")
def tiny_dino(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    return install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["facebook/dino-vitb16"])


def cubic(t, a=-0.75):
    """PyTorch's bicubic kernel: Keys (1981) cubic convolution with a = -0.75."""
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                    np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))


def resampling_matrix(n_in: int, positions: np.ndarray) -> np.ndarray:
    """Rows: bicubic weights of the inputs at each source position (edge indices clamped)."""
    m = np.zeros((len(positions), n_in))
    for i, s in enumerate(positions):
        base = int(np.floor(s))
        for k in range(-1, 3):
            m[i, min(max(base + k, 0), n_in - 1)] += cubic(s - (base + k))
    return m


def dino_v1_positions(side: int, grid: int) -> np.ndarray:
    # DINO: scale_factor (grid + 0.1)/side; F.interpolate samples output i at (i + 1/2)/scale - 1/2
    return (np.arange(grid) + 0.5) * side / (grid + 0.1) - 0.5


def size_positions(side: int, grid: int) -> np.ndarray:
    # transformers: size=(h, w), so the scale is grid/side
    return (np.arange(grid) + 0.5) * side / grid - 0.5


def expected_grid(pos: np.ndarray, side: int, grid_h: int, grid_w: int, positions) -> np.ndarray:
    patch = pos[0, 1:].reshape(side, side, -1)
    rows = resampling_matrix(side, positions(side, grid_h))
    cols = resampling_matrix(side, positions(side, grid_w))
    return np.einsum("ia,abd,jb->ijd", rows, patch, cols).reshape(grid_h * grid_w, -1)


def test_position_embeddings_are_sampled_at_dino_v1_positions_on_a_non_square_grid():
    import torch

    rng = np.random.default_rng(0)
    pos = rng.normal(size=(1, 1 + 14 * 14, 6)).astype(np.float32)
    # a DAVIS 854x480 frame after VBench's Resize(224): 224x398 pixels, a 14x24 patch grid
    out = dino_v1_position_embeddings(torch.from_numpy(pos), 16, 224, 398).numpy()
    assert out.shape == (1, 1 + 14 * 24, 6)
    np.testing.assert_array_equal(out[0, 0], pos[0, 0])  # the CLS position is kept
    np.testing.assert_allclose(out[0, 1:], expected_grid(pos, 14, 14, 24, dino_v1_positions), atol=2e-5)
    # the 14 rows are resampled too (scale 14.1/14, not the identity), unlike a size-based resize
    assert np.abs(out[0, 1:] - expected_grid(pos, 14, 14, 24, size_positions)).max() > 1e-2
    # a square input of the training size keeps the table as is (DINO's early return)
    table = torch.from_numpy(pos)
    assert dino_v1_position_embeddings(table, 16, 224, 224) is table


def test_backend_runs_dino_v1_eps_and_interpolation(tiny_dino):
    import json

    import torch

    config = json.loads((tiny_dino["facebook/dino-vitb16"] / "config.json").read_text())
    assert config["layer_norm_eps"] == 1e-12  # what the hub config says
    dino = load_backend("dino-vitb16")
    norms = [m for m in dino.model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 * dino.model.config.num_hidden_layers + 1
    assert all(m.eps == DINO_LAYER_NORM_EPS == 1e-6 for m in norms)

    # CLS of a non-square frame with the embedding layer's output built from the definitions
    # (patch tokens, CLS token, DINO v1 positions by the numpy resampling above) and fed to
    # the same transformer layers and final LayerNorm
    frame = np.random.default_rng(1).integers(0, 256, (1, 48, 85, 3), dtype=np.uint8)  # -> 224x396
    x = dino.preprocess(frame)
    assert tuple(x.shape[-2:]) == (224, 396)
    emb = dino.model.embeddings
    pos = emb.position_embeddings.detach().numpy()
    table = np.concatenate([pos[0, :1], expected_grid(pos, 14, 14, 24, dino_v1_positions)])
    with torch.no_grad():
        tokens = torch.cat([emb.cls_token, emb.patch_embeddings(x)], dim=1)
        tokens = tokens + torch.from_numpy(table.astype(np.float32))[None]
    hook = emb.register_forward_hook(lambda module, args, out: tokens)
    try:
        with torch.no_grad():
            hidden = dino.model(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
    finally:
        hook.remove()
    expected = torch.nn.functional.normalize(hidden[:, 0], dim=-1).numpy()
    np.testing.assert_allclose(dino.embed(frame), expected, atol=2e-5)
