"""What every family's control processor shares: the base class and the attention computation.

Processors keep calling diffusers' ``dispatch_attention_fn`` with the backend and parallel
config of the processor they replace (passed to the constructor), so attention backends still
apply; with no behaviour acting, a controlled model is bit-identical to the original.
"""
from __future__ import annotations

from typing import Any

from evalkit.errors import EvalkitError

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
    """Run diffusers' attention dispatcher on each chunk; returns [B, S, H, D].

    A chunk is ``(index, q, k, v)`` or ``(index, q, k, v, bias)``. ``index`` is None (every row and
    token), a tensor of row indices, or ``(rows, tokens)``: a row-index tensor and a slice of the
    query tokens (e.g. only the video tokens of a joint text–video sequence attend to extra keys).
    The fifth element is the chunk's own attention mask, used instead of the layer's: an additive
    float bias over the chunk's keys (LMP's log-weight per reference key) or a boolean mask, True =
    attend (V-Warper's KV replacement restricts each query to its own key set).
    """
    import torch
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    outs = []
    for chunk in chunks:
        index, q, k, v = chunk[:4]
        bias = chunk[4] if len(chunk) > 4 else None
        rows = index[0] if isinstance(index, tuple) else index
        if layout == "BHSD":
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        m = mask if (mask is None or rows is None) else mask[rows]
        if bias is not None:
            if m is not None:
                raise EvalkitError("attention: a chunk bias cannot be combined with the layer's own mask")
            m = bias if bias.dtype == torch.bool else bias.to(q.dtype)
        outs.append((index, dispatch_attention_fn(q, k, v, attn_mask=m, dropout_p=0.0, is_causal=False,
                                                  backend=backend, parallel_config=parallel_config)))
    if len(outs) == 1 and not isinstance(outs[0][0], tuple):
        return outs[0][1]
    # the full output: every row named by a chunk, as many tokens as the longest chunk reaches
    def extent(index, o):
        return (index[1].start or 0) + o.shape[1] if isinstance(index, tuple) else o.shape[1]

    first = outs[0][1]
    n_rows = 1 + max(int((ix[0] if isinstance(ix, tuple) else ix).max()) for ix, _ in outs)
    out = torch.empty((n_rows, max(extent(ix, o) for ix, o in outs)) + tuple(first.shape[2:]),
                      dtype=first.dtype, device=first.device)
    for index, o in outs:
        if isinstance(index, tuple):
            out[index[0].to(out.device), index[1]] = o
        else:
            out[index.to(out.device)] = o
    return out
