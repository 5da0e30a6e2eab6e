"""Cross-branch token correspondences (V-Warper Sec. 4.3, Eq. 3–5).

``C_gen→ref = softmax(Q̄_gen K̄_refᵀ/√d)``, ``C_ref→gen = softmax(Q̄_ref K̄_genᵀ/√d)`` and the
symmetric map ``Ĉ = ½(C_gen→ref + C_ref→genᵀ)``; the most correlated pairs of Ĉ give the two
flows (row argmax: generation → reference, column argmax: reference → generation), and the
round trip generation → reference → generation gives each token's cycle-consistency error.

Choices where the paper is silent (docs/generators/vwarper.md), each an option:

- ``scope="frame"``: latent frame f of the generation is matched against latent frame f of the
  reference branch (the reference image repeated over time); ``"video"`` matches against every
  reference token.
- ``head_reduce="concat"``: one descriptor per token, the heads concatenated (d = heads × head
  dim, one softmax), as Eq. 3 reads; ``"mean"`` averages the per-head maps (d = head dim).

Tensors are ``[heads, tokens, dim]`` with tokens in frame-major order (frame, row, column).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalkit.errors import EvalkitError

SCOPES = ("frame", "video")
HEAD_REDUCE = ("concat", "mean")


@dataclass(frozen=True)
class Matches:
    """Token indices over the video tokens (frame-major), plus what splatting needs."""
    gen_to_ref: Any      # LongTensor [N]: the reference token each generation token matches
    ref_to_gen: Any      # LongTensor [N]: the generation token each reference token matches
    splat_source: Any    # LongTensor [N]: the best reference token among those mapped onto each token
    splat_hit: Any       # BoolTensor [N]: some reference token maps onto the token (ref → gen flow)


def correlation(q, k, head_reduce: str = "concat"):
    """``softmax(q kᵀ/√d)`` over the keys: ``[n, m]`` from ``q [H, n, D]``, ``k [H, m, D]``."""
    import torch

    if head_reduce == "concat":
        qd = q.transpose(0, 1).reshape(q.shape[1], -1).float()
        kd = k.transpose(0, 1).reshape(k.shape[1], -1).float()
        return torch.softmax(qd @ kd.T * qd.shape[1] ** -0.5, dim=-1)
    if head_reduce != "mean":
        raise EvalkitError(f"correspondence: head_reduce {head_reduce!r} not in {HEAD_REDUCE}")
    out = torch.zeros(q.shape[1], k.shape[1], device=q.device)
    for h in range(q.shape[0]):  # one head at a time: [H, n, m] would not fit at full size
        out += torch.softmax(q[h].float() @ k[h].float().T * q.shape[-1] ** -0.5, dim=-1)
    return out / q.shape[0]


def symmetric_correlation(q_gen, k_ref, q_ref, k_gen, head_reduce: str = "concat"):
    """Eq. 4: ``Ĉ = ½(C_gen→ref + C_ref→genᵀ)``, ``[generation tokens, reference tokens]``."""
    return 0.5 * (correlation(q_gen, k_ref, head_reduce) + correlation(q_ref, k_gen, head_reduce).T)


def _groups(grid: tuple[int, int, int], scope: str) -> list[slice]:
    frames, h, w = grid
    if scope == "frame":
        return [slice(f * h * w, (f + 1) * h * w) for f in range(frames)]
    if scope == "video":
        return [slice(0, frames * h * w)]
    raise EvalkitError(f"correspondence: scope {scope!r} not in {SCOPES}")


def match(q_gen, k_ref, q_ref, k_gen, grid: tuple[int, int, int], *, scope: str = "frame",
          head_reduce: str = "concat") -> Matches:
    """Flows of Ĉ within each matching group (a latent frame, or the whole video)."""
    import torch

    n = grid[0] * grid[1] * grid[2]
    if q_gen.shape[1] != n or k_ref.shape[1] != n:
        raise EvalkitError(f"correspondence: {q_gen.shape[1]} generation / {k_ref.shape[1]} reference tokens "
                           f"do not fill the token grid {grid}")
    dev = q_gen.device
    g2r, r2g, src = (torch.empty(n, dtype=torch.long, device=dev) for _ in range(3))
    hit = torch.zeros(n, dtype=torch.bool, device=dev)
    for sl in _groups(grid, scope):
        c = symmetric_correlation(q_gen[:, sl], k_ref[:, sl], q_ref[:, sl], k_gen[:, sl], head_reduce)
        g2r[sl] = c.argmax(1) + sl.start
        back = c.argmax(0)                                            # reference -> generation (local)
        r2g[sl] = back + sl.start
        local = torch.arange(c.shape[0], device=dev)
        onto = c.masked_fill(back[None, :] != local[:, None], float("-inf"))  # ref tokens landing on each row
        src[sl] = onto.argmax(1) + sl.start
        hit[sl] = torch.isfinite(onto.max(1).values)
    return Matches(g2r, r2g, src, hit)


def token_coords(grid: tuple[int, int, int], device=None):
    """``[N, 3]`` float (frame, row, column) of the frame-major video tokens."""
    import torch

    f, h, w = grid
    ff, yy, xx = torch.meshgrid(torch.arange(f), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([ff, yy, xx], -1).reshape(-1, 3).float().to(device)


def cycle_error(matches: Matches, grid: tuple[int, int, int]):
    """``[N]``: distance (in tokens) between each generation token and its round trip
    generation → reference → generation."""
    coords = token_coords(grid, matches.gen_to_ref.device)
    back = matches.ref_to_gen[matches.gen_to_ref]
    return (coords[back] - coords).norm(dim=-1)
