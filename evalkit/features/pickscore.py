"""PickScore backend (Kirstain et al. 2023): the Pick-a-Pic preference-tuned CLIP ViT-H/14.

Weights: ``yuvalkirstain/PickScore_v1`` (a transformers ``CLIPModel``); tokenizer: the one
published with the base model, ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` (the PickScore repo
ships none). Both are resolved offline-first (evalkit.weights.resolve_hf); a missing one is a
MissingWeightsError naming its id.

Features are the CLIP backends' (``ClipBackend``): projected, L2-normalised image and text
embeddings, image preprocessing ``clip`` (short side 224 bicubic, centre crop 224, CLIP
mean/std: what the LAION ViT-H/14 CLIPProcessor does), 77-token text. The reward itself,
``logit_scale.exp() * cos``, is the metric's job (evalkit/metrics/pickscore.py); this backend
exposes ``logit_scale`` (the model's learned temperature, exponentiated).
"""
from __future__ import annotations

from typing import Any

from ..registry import FEATURES
from ..weights import resolve_hf
from .clip import ClipBackend
from .hf_loading import load_clip_tokenizer

MODEL_ID = "yuvalkirstain/PickScore_v1"
PROCESSOR_ID = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


@FEATURES.register("pickscore")
class PickScoreBackend(ClipBackend):
    weights_id = MODEL_ID
    processor_id = PROCESSOR_ID
    defaults = {"preprocess": "clip"}
    choices = {"preprocess": ("clip",)}  # the reference CLIPProcessor's preprocessing only

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int | None = None,
                 **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, batch_size=batch_size, **options)
        # every PickScore needs the prompt: fail now (naming the id), not at the first text
        resolve_hf(self.processor_id, what="tokenizer")
        self.logit_scale = float(self.model.logit_scale.detach().float().exp().item())

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_clip_tokenizer(self.processor_id)
        return self._tokenizer
