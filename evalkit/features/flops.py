"""Forward FLOPs of the ViT backends, counted from the architecture (for model-FLOP utilisation).

A multiply-add counts 2 FLOPs. Per transformer layer over n tokens of width d with an MLP of
width f: the QKV and output projections 2·n·4d², the attention scores and their weighted sum
2·2·n²·d, the MLP 2·2·n·d·f. Plus the patch embedding (a p×p×3 → d projection per patch).
Softmax, LayerNorm, GELU and biases are left out, as in the usual MFU accounting (they are
well under 1 % here). ``tests/features/test_flops.py`` checks this against PyTorch's FLOP
counter on a model of the real class.
"""
from __future__ import annotations


def vit_forward_flops(hidden: int, intermediate: int, layers: int, patch: int, height: int, width: int,
                      cls_tokens: int = 1) -> int:
    """FLOPs of one ``height``×``width`` image through a ViT encoder (patch embedding + layers)."""
    patches = (height // patch) * (width // patch)
    n = patches + cls_tokens
    per_layer = 2 * n * 4 * hidden * hidden + 2 * 2 * n * n * hidden + 2 * 2 * n * hidden * intermediate
    return 2 * patches * (3 * patch * patch) * hidden + layers * per_layer


def vit_config_flops(config, height: int, width: int) -> int:
    """``vit_forward_flops`` for a transformers ViT/CLIP-vision config."""
    return vit_forward_flops(config.hidden_size, config.intermediate_size, config.num_hidden_layers,
                             config.patch_size, height, width)
