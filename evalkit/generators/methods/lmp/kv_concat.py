"""KV-concatenation behaviour: target rows also attend to a reference row's (foreground) video K/V.

LMP Sec. 4.3 (RMTM, Eq. 5–6): the reference video is denoised in the same batch (row 0); the
target rows (rows 1…, the conditional one last) attend to their own keys plus the reference's
foreground video tokens, whose keys are reweighted by λ. The reference row attends to itself
only (plain attention). Two readings of the reweighting are offered:

- ``reweight="keys"`` (Eq. 6 as worded, "reweight the keys"): ``K_ref ← λ·K_ref``;
- ``reweight="weights"``: the attention weights on the reference tokens are scaled by λ before
  normalisation (an additive ``log λ`` per reference key): λ = 0 is the model without the
  reference, λ = 1 plain extended attention.

The two agree at λ = 1. ``queries="video"`` (Sec. 4.3: "only the tokens of the target video are
allowed to access the keys and values of reference tokens") keeps the target's text queries
on their own keys; ``queries="all"`` lets every target query see the reference (Eq. 5 with the
full query set).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from evalkit.errors import EvalkitError
from evalkit.generators.attention.controller import AttentionCall, Behaviour

REWEIGHTS = ("keys", "weights")
QUERIES = ("video", "all")


def all_tokens() -> None:
    return None


@dataclass(kw_only=True)
class ConcatReferenceKV(Behaviour):
    """Row 0 is the reference; ``tokens()`` gives the indices of its video tokens to concatenate
    (None: all of them). ``target_passes="cond"`` extends only the last (conditional) row.
    ``count`` = calls extended, ``concatenated`` = reference tokens added over those calls."""
    weight: float = 1.0
    reweight: str = "keys"
    queries: str = "video"
    target_passes: str = "both"
    tokens: Callable[[], Any] = all_tokens
    passes: str = "both"   # the controller hands every row: this behaviour knows the row layout
    concatenated: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reweight not in REWEIGHTS or self.queries not in QUERIES or self.target_passes not in ("both", "cond"):
            raise EvalkitError(f"ConcatReferenceKV: reweight {self.reweight!r} (one of {REWEIGHTS}), queries "
                               f"{self.queries!r} (one of {QUERIES}), target_passes {self.target_passes!r} (both/cond)")
        if not 0.0 <= self.weight:
            raise EvalkitError(f"ConcatReferenceKV: the reweighting λ={self.weight} must be >= 0")

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        import torch

        batch = call.q.shape[0]
        if batch < 2:
            return
        idx = self.tokens()
        tdim, start = call.token_dim, call.video_start
        k_ref, v_ref = call.video("k", slice(0, 1)), call.video("v", slice(0, 1))
        if idx is not None:
            if len(idx) == 0:
                return
            idx = idx.to(k_ref.device)
            k_ref, v_ref = k_ref.index_select(tdim, idx), v_ref.index_select(tdim, idx)
        if self.reweight == "keys" and self.weight != 1.0:
            k_ref = k_ref * self.weight
        q, k, v = call.q, call.k, call.v
        targets = [batch - 1] if self.target_passes == "cond" else list(range(1, batch))
        ti = torch.tensor(targets)
        n, n_ref, n_own = len(targets), k_ref.shape[tdim], k.shape[tdim]
        expand = (n,) + (-1,) * (k_ref.dim() - 1)
        k_ext = torch.cat([k[ti], k_ref.expand(expand)], dim=tdim)
        v_ext = torch.cat([v[ti], v_ref.expand(expand)], dim=tdim)
        extra: tuple = ()
        if self.reweight == "weights" and self.weight != 1.0:
            log_w = math.log(self.weight) if self.weight > 0 else -math.inf
            bias = torch.zeros(n, n_own + n_ref, dtype=torch.float32, device=k.device)
            bias[:, n_own:] = log_w
            extra = (bias,)
        chunks: list = []
        others = [r for r in range(batch) if r not in targets]
        if others:
            oi = torch.tensor(others)
            chunks.append((oi, q[oi], k[oi], v[oi]))
        qt = q[ti]
        if self.queries == "all" or start == 0:
            chunks.append((ti, qt, k_ext, v_ext) + extra)
        else:
            length = q.shape[tdim]
            chunks.append(((ti, slice(0, start)), qt.narrow(tdim, 0, start), k[ti], v[ti]))
            chunks.append(((ti, slice(start, None)), qt.narrow(tdim, start, length - start), k_ext, v_ext) + extra)
        call.chunks = chunks
        self.count += 1
        self.concatenated += n_ref
