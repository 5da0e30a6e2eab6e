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

import hashlib
import math
from pathlib import Path
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

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int = 64, **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, batch_size=batch_size, **options)
        # every PickScore needs the prompt: fail now (naming the id), not at the first text
        resolve_hf(self.processor_id, what="tokenizer")
        self.logit_scale = float(self.model.logit_scale.detach().float().exp().item())

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_clip_tokenizer(self.processor_id)
        return self._tokenizer


def _config(size: str):
    """CLIPConfig of PickScore_v1 (ViT-H/14: vision 1280×32 layers, text 1024×24, projection
    1024), or a tiny one of the same class for tests."""
    from .hf_loading import import_transformers
    from ..testing.random_models import _TINY_LAYERS

    t = import_transformers()
    if size == "tiny":
        return t.CLIPConfig(text_config=dict(_TINY_LAYERS, vocab_size=49408),
                            vision_config=dict(_TINY_LAYERS, patch_size=14), projection_dim=16)
    if size == "full":
        return t.CLIPConfig(
            text_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                             num_attention_heads=16, hidden_act="gelu"),
            vision_config=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                               num_attention_heads=16, patch_size=14, hidden_act="gelu"),
            projection_dim=1024, logit_scale_init_value=math.log(100.0))
    raise ValueError(f"size must be 'tiny' or 'full', got {size!r}")


def install_random_pickscore(hf_home: str | Path, size: str = "tiny", seed: int = 0,
                             bpe_path=None) -> dict[str, Path]:
    """Random-weight PickScore ``CLIPModel`` under ``MODEL_ID`` and a CLIP tokenizer under
    ``PROCESSOR_ID`` in ``$HF_HOME/hub`` (hub layout, like random_init.install_random_models);
    idempotent. For tests (``tiny``) and GPU timings (``full``); the outputs are meaningless."""
    import torch

    from .hf_loading import clip_tokenizer_from_bpe, import_transformers

    out = {}
    for model_id in (MODEL_ID, PROCESSOR_ID):
        repo = Path(hf_home) / "hub" / f"models--{model_id.replace('/', '--')}"
        rev = hashlib.sha1(f"evalkit-random-{size}-{model_id}".encode()).hexdigest()
        snap = repo / "snapshots" / rev
        if not (repo / "refs" / "main").is_file():
            if model_id == MODEL_ID:
                torch.manual_seed(seed)
                import_transformers().CLIPModel(_config(size)).save_pretrained(snap)
            else:  # the tokenizer files only: the model of this repo is never loaded
                clip_tokenizer_from_bpe(bpe_path).save_pretrained(snap)
            (repo / "refs").mkdir(parents=True, exist_ok=True)
            (repo / "refs" / "main").write_text(rev)
        out[model_id] = snap
    return out
