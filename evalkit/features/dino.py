"""DINO v1 ViT backends (transformers ViTModel): the CLS token of ``last_hidden_state``.

The feature is ``last_hidden_state[:, 0]`` (after the final LayerNorm, as DINO's own
``forward`` returns), not the HF pooler, L2-normalised. ViT-B/16 with VBench's
preprocessing (no crop: positional embeddings are interpolated to the frame's aspect)
serves VBench subject consistency, identity leakage and set consistency; ViT-S/16 with
DreamBooth's preprocessing serves DINO-I.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from ..registry import FEATURES
from .base import FeatureBackend
from .hf_loading import DTYPES, load_pretrained, torch_dtype
from .preprocess import PRESETS


class DinoBackend(FeatureBackend):
    weights_id: ClassVar[str]
    defaults = {"preprocess": "vbench-dino"}
    choices = {"preprocess": ("vbench-dino", "dreambooth-dino")}

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int = 64, **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, **options)
        if dtype not in DTYPES:
            raise ValueError(f"{self.registry_name}: dtype {dtype!r} not in {DTYPES}")
        self.batch_size = batch_size  # does not change the numbers, so not an option
        self.preprocess = PRESETS[self.options["preprocess"]]
        self.model = load_pretrained("ViTModel", self.weights_id, device, dtype, add_pooling_layer=False)

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) frames of one size -> (N, D) float32 unit vectors."""
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch_size):
                x = self.preprocess(frames[i:i + self.batch_size], self.device, torch_dtype(self.dtype))
                hidden = self.model(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
                out.append(torch.nn.functional.normalize(hidden[:, 0].float(), dim=-1).cpu())
        return torch.cat(out).numpy()

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Images of any sizes (reference photos): one at a time unless the preprocessing crops."""
        if self.preprocess.crop:
            import torch

            with torch.inference_mode():
                x = self.preprocess.batch(images, self.device, torch_dtype(self.dtype))
                hidden = self.model(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
                return torch.nn.functional.normalize(hidden[:, 0].float(), dim=-1).cpu().numpy()
        return np.concatenate([self.embed(im[None]) for im in images])


@FEATURES.register("dino-vitb16")
class DinoViTB16(DinoBackend):
    weights_id = "facebook/dino-vitb16"
    defaults = {"preprocess": "vbench-dino"}


@FEATURES.register("dino-vits16")
class DinoViTS16(DinoBackend):
    weights_id = "facebook/dino-vits16"
    defaults = {"preprocess": "dreambooth-dino"}
