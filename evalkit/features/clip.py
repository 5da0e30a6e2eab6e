"""CLIP backends (transformers CLIPModel): projected image and text embeddings, L2-normalised.

ViT-B/32 serves CLIP text similarity, temporal consistency, VBench background consistency
and CLIP-I; ViT-L/14 serves the LAION aesthetic head (VBench) and optionally text scores.
Embeddings are ``visual_projection(vision_model(x).pooler_output)`` and
``text_projection(text_model(ids).pooler_output)``, computed explicitly because
``get_image_features`` changed its return type across transformers versions.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from ..registry import FEATURES
from .base import FeatureBackend
from .hf_loading import DTYPES, load_clip_tokenizer, load_pretrained, tokenize, torch_dtype
from .preprocess import PRESETS


class ClipBackend(FeatureBackend):
    weights_id: ClassVar[str]
    defaults = {"preprocess": "clip"}
    choices = {"preprocess": ("clip", "vbench-clip")}

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int = 64, **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, **options)
        if dtype not in DTYPES:
            raise ValueError(f"{self.registry_name}: dtype {dtype!r} not in {DTYPES}")
        self.batch_size = batch_size
        self.preprocess = PRESETS[self.options["preprocess"]]
        self.model = load_pretrained("CLIPModel", self.weights_id, device, dtype)
        self._tokenizer = None  # loaded on first text query: image-only metrics need no tokenizer

    def _image_embed(self, x):
        import torch

        pooled = self.model.vision_model(pixel_values=x).pooler_output
        return torch.nn.functional.normalize(self.model.visual_projection(pooled).float(), dim=-1)

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) frames -> (N, D) float32 unit vectors."""
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch_size):
                x = self.preprocess(frames[i:i + self.batch_size], self.device, torch_dtype(self.dtype))
                out.append(self._image_embed(x).cpu())
        return torch.cat(out).numpy()

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = self.preprocess.batch(images, self.device, torch_dtype(self.dtype))
            return self._image_embed(x).cpu().numpy()

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_clip_tokenizer(self.weights_id)
        return self._tokenizer

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, D) float32 unit vectors (77 tokens, truncated)."""
        import torch

        ids, mask = tokenize(self.tokenizer, list(texts), self.device)
        with torch.inference_mode():
            pooled = self.model.text_model(input_ids=ids, attention_mask=mask).pooler_output
            return torch.nn.functional.normalize(self.model.text_projection(pooled).float(), dim=-1).cpu().numpy()


@FEATURES.register("clip-vit-b32")
class ClipViTB32(ClipBackend):
    weights_id = "openai/clip-vit-base-patch32"


@FEATURES.register("clip-vit-l14")
class ClipViTL14(ClipBackend):
    weights_id = "openai/clip-vit-large-patch14"
