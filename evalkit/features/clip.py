"""CLIP backends (transformers CLIPModel): projected image and text embeddings, L2-normalised.

ViT-B/32 serves CLIP text similarity, temporal consistency, VBench background consistency
and CLIP-I; ViT-L/14 serves the LAION aesthetic head (VBench) and optionally text scores.
Embeddings are ``visual_projection(vision_model(x).pooler_output)`` and
``text_projection(text_model(ids).pooler_output)``, computed explicitly because
``get_image_features`` changed its return type across transformers versions.

``precision="openai-fp16"`` runs the model as OpenAI's ``clip.load`` does on CUDA (what VBench
and DiTFlow's ``eval/clip_score.py`` run on a GPU): fp16 weights and activations
(``convert_weights``), every LayerNorm computing in float32 on float32 parameters
(``clip/model.py`` ``LayerNorm``), the image cast to fp16 before the vision tower, and the
embeddings normalised in fp16 (VBench's ``F.normalize``; DiTFlow's in-place division). The
unit vectors are returned as float32 holding those fp16 values. Kernels differ from OpenAI's
(``nn.MultiheadAttention``), so agreement is at fp16 rounding, not bit for bit.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..registry import FEATURES
from .embedding import FrameEmbedder
from .hf_loading import load_clip_tokenizer, load_pretrained, tokenize
from .precision import compute_scope
from .preprocess import PRESETS

PRECISIONS = ("float32", "openai-fp16")


def use_openai_fp16(model) -> None:
    """OpenAI CLIP's CUDA precision layout on a transformers CLIP model: everything fp16
    except the LayerNorms, which keep float32 parameters, compute in float32 and return fp16."""
    import torch

    model.half()
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.float()
            module.register_forward_pre_hook(lambda m, args: (args[0].float(), *args[1:]))
            module.register_forward_hook(lambda m, args, out: out.half())


class ClipBackend(FrameEmbedder):
    weights_id: str
    defaults = {"preprocess": "clip", "precision": "float32"}
    choices = {"preprocess": ("clip", "vbench-clip"), "precision": PRECISIONS}
    version = "2"  # 2: float VBench preprocessing, PIL OpenAI preprocessing; precision option

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int | None = None,
                 **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, batch_size=batch_size, **options)
        self.preprocess = PRESETS[self.options["preprocess"]]
        self.fp16 = self.options.get("precision", "float32") == "openai-fp16"
        if self.fp16 and dtype != "float32":
            raise ValueError(f"{self.registry_name}: precision 'openai-fp16' sets its own dtypes; "
                             f"run it with dtype float32, not {dtype!r}")
        self.model = load_pretrained("CLIPModel", self.weights_id, device, dtype)
        if self.fp16:
            use_openai_fp16(self.model)
        self._tokenizer = None  # loaded on first text query: image-only metrics need no tokenizer

    @property
    def input_dtype(self):
        import torch

        return torch.float16 if self.fp16 else super().input_dtype

    def _unit(self, projected):
        import torch

        if self.fp16:  # normalised in fp16, as the references do with clip.load's fp16 output
            return torch.nn.functional.normalize(projected, dim=-1).float()
        return torch.nn.functional.normalize(projected.float(), dim=-1)

    def forward_unit(self, pixels):
        pooled = self.model.vision_model(pixel_values=pixels).pooler_output
        return self._unit(self.model.visual_projection(pooled))

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode(), compute_scope(self.dtype, self.device):
            x = self.preprocess.batch(images, self.device, self.input_dtype)
            return self.forward_unit(x).cpu().numpy()

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_clip_tokenizer(self.weights_id)
        return self._tokenizer

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, D) float32 unit vectors (77 tokens, truncated)."""
        import torch

        ids, mask = tokenize(self.tokenizer, list(texts), self.device)
        with torch.inference_mode(), compute_scope(self.dtype, self.device):
            pooled = self.model.text_model(input_ids=ids, attention_mask=mask).pooler_output
            return self._unit(self.model.text_projection(pooled)).cpu().numpy()


@FEATURES.register("clip-vit-b32")
class ClipViTB32(ClipBackend):
    weights_id = "openai/clip-vit-base-patch32"


@FEATURES.register("clip-vit-l14")
class ClipViTL14(ClipBackend):
    weights_id = "openai/clip-vit-large-patch14"
