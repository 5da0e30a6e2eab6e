"""RoPE-free Q/K capture: the video tokens' queries and keys with the rotary embedding undone.

The family processors hand behaviours Q and K after RoPE (``AttentionCall.rope``). V-Warper
(Sec. 4.2) matches on Q/K *without* RoPE, whose location bias pulls matches toward the same
position. RoPE is a rotation of each (even, odd) channel pair by a position angle, so rotating
back with the same ``(cos, sin)`` and ``-sin`` recovers the pre-RoPE features (up to the
rounding of the model dtype); the caller passes the ``(cos, sin)`` the pipeline computed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalkit.generators.attention.controller import AttentionCall, Behaviour
from evalkit.generators.attention.store import FeatureStore, Recorded


def unrotate(x, rope, layout: str):
    """``x`` (video tokens, ``BHSD`` or ``BSHD``) with the rotary embedding ``rope = (cos, sin)``
    undone, in float32. ``rope`` None returns ``x`` as float32 (a model without RoPE)."""
    from diffusers.models.embeddings import apply_rotary_emb

    if rope is None:
        return x.float()
    cos, sin = rope
    return apply_rotary_emb(x.float(), (cos.float(), -sin.float()), use_real=True, use_real_unbind_dim=-1,
                            sequence_dim=2 if layout == "BHSD" else 1)


@dataclass(kw_only=True)
class RecordRopeFree(Behaviour):
    """Store the acted-on rows' video-token Q and K with RoPE undone under ``(layer, what, step)``,
    tagged ``rope_applied=False``, at steps where ``active(step)``."""
    store: FeatureStore
    rope: Any = None                       # (cos, sin) of the video tokens, [tokens, head dim]
    what: tuple[str, ...] = ("q", "k")

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        for w in self.what:
            x = call.video(w, rows).detach()
            x = unrotate(x, self.rope if call.rope else None, call.layout)
            self.store.put(call.layer, w, call.step, Recorded(x, call.layout, False, w))
        self.count += 1
