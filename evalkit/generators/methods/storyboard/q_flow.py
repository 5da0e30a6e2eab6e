"""Q flow (Motion by Queries App. B.3 phase 2, App. B.11 Eq. 2–4; after TokenFlow).

For a frame ``f`` between key frames ``f_A < f < f_B``, each token ``(x, y)`` is matched, on the
*vanilla* Q of the same layer and step, to its most similar token in ``f_A`` and in ``f_B``
(cosine, Eq. 2–3). The consistent generation's Q of that token is then replaced by the blend of
its own Q at the matched key-frame tokens (Eq. 4)::

    q̂_fxy = w q̂_{f_A x_A y_A} + (1 − w) q̂_{f_B x_B y_B},   w = sigmoid((f_B − f) / (f_B − f_A))

so Q keeps the vanilla video's flow without carrying its features. Key frames keep their Q.

:class:`FlowRecord` computes the matches during the vanilla pass (only indices are kept, not Q);
:class:`QFlow` applies them. Both work on :class:`~.frames.FrameLayout`'s
``[shots, frames, tokens, heads, dim]`` view, so the U-Net (frames as rows) and DiTs (latent
frames in the tokens) share the code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from evalkit.generators.attention.controller import AttentionCall, Behaviour
from evalkit.generators.attention.frames import FrameLayout, key_frames
from evalkit.generators.attention.q_preserve import PassKeys, token_dropout
from evalkit.generators.attention.store import FeatureStore


def bracketing_keys(frames: int, keys: list[int]) -> list[tuple[int, int, int, float]]:
    """``(f, f_A, f_B, w)`` for every non-key frame, with Eq. 4's weight."""
    out = []
    for f in range(frames):
        if f in keys:
            continue
        fa = max(k for k in keys if k < f)
        fb = min(k for k in keys if k > f)
        out.append((f, fa, fb, 1.0 / (1.0 + math.exp(-(fb - f) / (fb - fa)))))
    return out


def nearest_tokens(q, frames_of: list[tuple[int, int, int, float]]):
    """Eq. 2–3 on ``q`` ``[items, F, S, H, D]``: per non-key frame, the index of each token's most
    cosine-similar token in ``f_A`` and in ``f_B``; returns int32 ``[items, n, 2, S]``."""
    import torch
    import torch.nn.functional as F

    qn = F.normalize(q.flatten(3).float(), dim=-1)                        # [items, F, S, C]
    out = []
    for f, fa, fb, _ in frames_of:
        pair = [torch.einsum("isc,itc->ist", qn[:, f], qn[:, k]).argmax(-1) for k in (fa, fb)]
        out.append(torch.stack(pair, dim=1))
    return torch.stack(out, dim=1).to(torch.int32)


def flow_blend(q, frames_of, matches):
    """Eq. 4: ``q`` ``[items, F, S, H, D]`` with every non-key frame replaced by the blend of its
    key frames' tokens at ``matches`` (from :func:`nearest_tokens`)."""
    out = q.clone()
    for j, (f, fa, fb, w) in enumerate(frames_of):
        ia, ib = matches[:, j, 0].long(), matches[:, j, 1].long()
        qa = q[:, fa].gather(1, ia[:, :, None, None].expand(-1, -1, *q.shape[3:]))
        qb = q[:, fb].gather(1, ib[:, :, None, None].expand(-1, -1, *q.shape[3:]))
        out[:, f] = w * qa + (1.0 - w) * qb
    return out


@dataclass(kw_only=True)
class FlowRecord(Behaviour, PassKeys):
    """Vanilla pass: store Eq. 2–3's matches under ``(layer, "flow", (step, call))`` at active steps."""
    store: FeatureStore
    layout: FrameLayout
    key_frame_stride: int = 4
    device: Any = None

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        key = self.pass_key(call)
        q = self.layout.to_frames(call.video("q", rows), call.layout)
        frames_of = bracketing_keys(q.shape[1], key_frames(q.shape[1], self.key_frame_stride))
        if frames_of:
            m = nearest_tokens(q, frames_of)
            self.store[(call.layer, "flow", key)] = m.to(self.device) if self.device is not None else m


@dataclass(kw_only=True)
class QFlow(Behaviour, PassKeys):
    """Consistent passes: Eq. 4 at active steps where matches were recorded; ``dropout`` as Q dropout
    (a dropped token keeps its own Q)."""
    store: FeatureStore
    layout: FrameLayout
    key_frame_stride: int = 4
    dropout: float = 0.0
    generator: Any = None

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        import torch

        matches = self.store.get((call.layer, "flow", self.pass_key(call)))
        if matches is None:
            return
        region = call.video("q", rows)
        q = self.layout.to_frames(region, call.layout)
        frames_of = bracketing_keys(q.shape[1], key_frames(q.shape[1], self.key_frame_stride))
        value = self.layout.from_frames(flow_blend(q, frames_of, matches.to(q.device)), call.layout)
        if self.dropout:
            value = torch.where(token_dropout(region, call.layout, self.dropout, self.generator), region, value)
        call.replace_video("q", rows, value)
        self.count += 1
