"""Random-weight PickScore (a transformers ``CLIPModel`` of PickScore_v1's shape) and its CLIP
tokenizer, saved into a Hugging Face cache under the real hub ids: for tests (``tiny``) and GPU
timings (``full``); the outputs are meaningless."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

from ..features.hf_loading import clip_tokenizer_from_bpe, import_transformers
from ..features.pickscore import MODEL_ID, PROCESSOR_ID
from .random_models import _TINY_LAYERS


def _config(size: str):
    """CLIPConfig of PickScore_v1 (ViT-H/14: vision 1280×32 layers, text 1024×24, projection
    1024), or a tiny one of the same class for tests."""
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
    ``PROCESSOR_ID`` in ``$HF_HOME/hub`` (hub layout, like install_random_models);
    idempotent. For tests (``tiny``) and GPU timings (``full``); the outputs are meaningless."""
    import torch

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
