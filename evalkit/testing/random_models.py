"""Random-weight models of the real architectures, saved into an HF cache under real hub ids.

No pretrained DINO/CLIP/CLIPSeg weights can be fetched on the project's machines. Tests
(``size="tiny"``) and the GPU benchmark (``size="full"``: the real checkpoints' shapes)
install these into ``$HF_HOME/hub/models--ORG--NAME/snapshots/<rev>/`` with ``refs/main``,
so the production loading path (evalkit.weights.resolve_hf -> from_pretrained) runs
unchanged. CLIP-family entries also get a CLIP tokenizer built from open_clip's BPE file.
Outputs of these models are meaningless; only shapes, code paths and timings are real.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..features.hf_loading import clip_tokenizer_from_bpe, import_transformers

# initializer_range 0.2 (not 0.02): tiny random nets then map different images to clearly
# different features, so known-answer tests can tell "same" from "different"
_TINY_LAYERS = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    initializer_range=0.2)


def _configs(size: str) -> dict[str, tuple[str, object]]:
    t = import_transformers()
    tiny = size == "tiny"
    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', got {size!r}")
    # layer_norm_eps 1e-12: what the facebook/dino-vit*16 hub configs say (DINO itself uses 1e-6,
    # which the DINO backend restores), so tests load what the hub serves
    vit = (lambda **kw: t.ViTConfig(image_size=224, patch_size=16, qkv_bias=True, layer_norm_eps=1e-12,
                                    **(_TINY_LAYERS if tiny else kw)))
    clip_text = dict(_TINY_LAYERS, vocab_size=49408) if tiny else {}
    return {
        # DINO ViT-B/16 and ViT-S/16 (Caron et al. 2021)
        "facebook/dino-vitb16": ("ViTModel", vit(hidden_size=768, intermediate_size=3072,
                                                 num_hidden_layers=12, num_attention_heads=12)),
        "facebook/dino-vits16": ("ViTModel", vit(hidden_size=384, intermediate_size=1536,
                                                 num_hidden_layers=12, num_attention_heads=6)),
        # CLIPConfig's defaults are ViT-B/32
        "openai/clip-vit-base-patch32": ("CLIPModel", t.CLIPConfig(
            text_config=clip_text, vision_config=dict(_TINY_LAYERS, patch_size=32) if tiny else {},
            projection_dim=16 if tiny else 512)),
        "openai/clip-vit-large-patch14": ("CLIPModel", t.CLIPConfig(
            text_config=clip_text or dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                          num_attention_heads=12),
            vision_config=dict(_TINY_LAYERS, patch_size=14) if tiny else dict(
                hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                patch_size=14),
            projection_dim=768)),  # 768 even when tiny: the real LAION head takes 768-d features
        # rd64-refined: ViT-B/16 CLIP, activations of layers 3/6/9, reduce_dim 64, refined decoder
        "CIDAS/clipseg-rd64-refined": ("CLIPSegForImageSegmentation", t.CLIPSegConfig(
            text_config=clip_text, vision_config=dict(_TINY_LAYERS, patch_size=16) if tiny else dict(patch_size=16),
            projection_dim=16 if tiny else 512, reduce_dim=16 if tiny else 64,
            extract_layers=[0, 1] if tiny else [3, 6, 9], use_complex_transposed_convolution=True,
            decoder_num_attention_heads=2 if tiny else 4, decoder_intermediate_size=32 if tiny else 2048)),
    }


def build_model(model_id: str, size: str = "tiny", seed: int = 0):
    import torch

    cls_name, config = _configs(size)[model_id]
    torch.manual_seed(seed)
    return getattr(import_transformers(), cls_name)(config)


def install_random_models(hf_home: str | Path, model_ids, size: str = "tiny", bpe_path=None) -> dict[str, Path]:
    """Save random-weight models (and CLIP tokenizers) under their hub ids; idempotent."""
    out = {}
    tokenizer = None
    for model_id in model_ids:
        repo = Path(hf_home) / "hub" / f"models--{model_id.replace('/', '--')}"
        rev = hashlib.sha1(f"evalkit-random-{size}-{model_id}".encode()).hexdigest()  # 40 hex, like a commit
        snap = repo / "snapshots" / rev
        if not (repo / "refs" / "main").is_file():
            model = build_model(model_id, size)
            model.save_pretrained(snap)
            if "clip" in model_id.lower():
                if tokenizer is None:
                    tokenizer = clip_tokenizer_from_bpe(bpe_path)
                tokenizer.save_pretrained(snap)
            (repo / "refs").mkdir(parents=True, exist_ok=True)
            (repo / "refs" / "main").write_text(rev)
        out[model_id] = snap
    return out
