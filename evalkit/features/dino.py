"""DINO v1 ViT backends (transformers ViTModel): the CLS token of ``last_hidden_state``.

The feature is ``last_hidden_state[:, 0]`` (after the final LayerNorm, as DINO's own
``forward`` returns), not the HF pooler, L2-normalised. ViT-B/16 with VBench's
preprocessing (no crop: positional embeddings are interpolated to the frame's aspect)
serves VBench subject consistency, identity leakage and set consistency; ViT-S/16 with
DreamBooth's preprocessing serves DINO-I.

Two facts of DINO v1's own ViT (facebookresearch/dino ``vision_transformer.py``), which
VBench loads through torch.hub, differ from transformers' ViTModel and are restored here:

- LayerNorm eps is 1e-6 (``vit_small``/``vit_base``: ``partial(nn.LayerNorm, eps=1e-6)``); the
  ``facebook/dino-vit*16`` hub configs say ``layer_norm_eps: 1e-12``.
- ``interpolate_pos_encoding`` resizes the 14×14 grid of position embeddings bicubically with
  ``scale_factor = ((h + 0.1)/14, (w + 0.1)/14)`` for an h×w patch grid, so the sample
  positions are those of that scale factor (``(i + ½)·14/(h + 0.1) − ½``), not of ``size=(h, w)``
  as in transformers: they differ on every non-square frame.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..errors import EvalkitError
from ..registry import FEATURES
from .embedding import FrameEmbedder
from .hf_loading import load_pretrained
from .precision import compute_scope
from .preprocess import PRESETS

DINO_LAYER_NORM_EPS = 1e-6  # facebookresearch/dino vision_transformer.py vit_small / vit_base
DINO_INTERPOLATION_OFFSET = 0.1  # "a small number to avoid floating point error" (DINO issue #8)


def dino_v1_position_embeddings(position_embeddings, patch_size: int, height: int, width: int):
    """DINO v1's ``interpolate_pos_encoding`` for an input of ``height``×``width`` pixels:
    (1, 1 + N, D) embeddings of a square grid -> (1, 1 + h·w, D) for the h×w patch grid."""
    import torch
    import torch.nn.functional as F

    n = position_embeddings.shape[1] - 1
    grid_h, grid_w = height // patch_size, width // patch_size
    if grid_h * grid_w == n and height == width:
        return position_embeddings
    side = int(math.sqrt(n))
    dim = position_embeddings.shape[-1]
    patch = position_embeddings[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
    scale = ((grid_h + DINO_INTERPOLATION_OFFSET) / side, (grid_w + DINO_INTERPOLATION_OFFSET) / side)
    # a scale factor, not a size: F.interpolate then samples at (i + 1/2)/scale - 1/2
    patch = F.interpolate(patch.float(), scale_factor=scale, mode="bicubic", align_corners=False)
    if tuple(patch.shape[-2:]) != (grid_h, grid_w):
        raise EvalkitError(f"DINO position embeddings: interpolated to {tuple(patch.shape[-2:])}, "
                           f"expected the {grid_h}x{grid_w} patch grid of a {height}x{width} input")
    patch = patch.to(position_embeddings.dtype).permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)
    return torch.cat((position_embeddings[:, :1], patch), dim=1)


def use_dino_v1_interpolation(model) -> None:
    """Make a transformers ViTModel interpolate its position embeddings as DINO v1 does."""
    embeddings = model.embeddings
    if not hasattr(embeddings, "interpolate_pos_encoding"):
        raise EvalkitError(f"{type(model).__name__}: no embeddings.interpolate_pos_encoding to replace "
                           "(transformers changed ViTEmbeddings)")
    patch_size = int(model.config.patch_size)

    def interpolate_pos_encoding(tokens, height: int, width: int):
        return dino_v1_position_embeddings(embeddings.position_embeddings, patch_size, height, width)

    embeddings.interpolate_pos_encoding = interpolate_pos_encoding  # instance attribute: this model only


class DinoBackend(FrameEmbedder):
    weights_id: str
    defaults = {"preprocess": "vbench-dino"}
    choices = {"preprocess": ("vbench-dino", "dreambooth-dino")}
    version = "2"  # 2: DINO v1 position-embedding interpolation and LayerNorm eps; float preprocessing

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int | None = None,
                 **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, batch_size=batch_size, **options)
        self.preprocess = PRESETS[self.options["preprocess"]]
        self.model = load_pretrained("ViTModel", self.weights_id, device, dtype, add_pooling_layer=False,
                                     layer_norm_eps=DINO_LAYER_NORM_EPS)
        use_dino_v1_interpolation(self.model)

    def forward_unit(self, pixels):
        import torch

        hidden = self.model(pixel_values=pixels, interpolate_pos_encoding=True).last_hidden_state
        return torch.nn.functional.normalize(hidden[:, 0].float(), dim=-1)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Images of any sizes (reference photos): one at a time unless the preprocessing crops."""
        if self.preprocess.crop:
            import torch

            with torch.inference_mode(), compute_scope(self.dtype, self.device):
                pixels = self.preprocess.batch(images, self.device, self.input_dtype)
                return self.forward_unit(pixels).cpu().numpy()
        return np.concatenate(self.embed_videos([im[None] for im in images]))


@FEATURES.register("dino-vitb16")
class DinoViTB16(DinoBackend):
    weights_id = "facebook/dino-vitb16"
    defaults = {"preprocess": "vbench-dino"}


@FEATURES.register("dino-vits16")
class DinoViTS16(DinoBackend):
    weights_id = "facebook/dino-vits16"
    defaults = {"preprocess": "dreambooth-dino"}
