"""What every family's control processor shares: the base class and the attention computation.

Processors keep calling diffusers' ``dispatch_attention_fn`` with the backend and parallel
config of the processor they replace (passed to the constructor), so attention backends still
apply; with no behaviour acting, a controlled model is bit-identical to the original.
"""
from __future__ import annotations

from typing import Any

from .controller import AttentionController


class ControlProcessor:
    """One instance per controlled layer; subclasses (one per model family, in its module) reproduce
    the library's processor and call ``self.controller.process`` right before attention."""

    def __init__(self, controller: AttentionController, layer: str, *, backend: Any = None,
                 parallel_config: Any = None) -> None:
        self.controller = controller
        self.layer = layer
        self.backend = backend
        self.parallel_config = parallel_config


def split_heads_bhsd(attn, query, key, value):
    """[B, S, H*D] projections -> [B, H, S, D], with the module's optional Q/K norms applied."""
    b, heads = query.shape[0], attn.heads
    head_dim = key.shape[-1] // heads
    query, key, value = (t.view(b, -1, heads, head_dim).transpose(1, 2) for t in (query, key, value))
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    return query, key, value, head_dim


def attend(chunks, layout: str, mask, backend, parallel_config=None):
    """Run diffusers' attention dispatcher on each ``(rows, q, k, v)`` chunk; returns [B, S, H, D].

    A chunk may carry a fifth element, its own attention mask (boolean, broadcastable to
    [rows, heads, queries, keys]; True = attend), which replaces the processor's mask for it
    (masked extended attention: subject-driven self-attention)."""
    import torch
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    outs, order = [], []
    for rows, q, k, v, *own_mask in chunks:
        if layout == "BHSD":
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        m = own_mask[0] if own_mask else (mask if (mask is None or rows is None) else mask[rows])
        outs.append(dispatch_attention_fn(q, k, v, attn_mask=m, dropout_p=0.0, is_causal=False,
                                          backend=backend, parallel_config=parallel_config))
        order.append(rows)
    if len(outs) == 1:
        return outs[0]
    out = torch.empty((sum(o.shape[0] for o in outs),) + tuple(outs[0].shape[1:]),
                      dtype=outs[0].dtype, device=outs[0].device)
    for rows, o in zip(order, outs):
        out[rows.to(out.device)] = o
    return out
