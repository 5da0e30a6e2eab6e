"""Attention Motion Flow (DiTFlow Sec. 4.1–4.3, Eq. 3, 4, 7, 8).

For Q and K of one DiT self-attention layer (video tokens, F frames × S = h·w patches):

- cross-frame attention A_ij = softmax_j(τ · Q_i K_jᵀ / √d) ∈ R^{S×S} for every frame pair (Eq. 3);
- reference (``hard``): each patch (u, v) of frame i goes to the argmax patch (u', v') of frame j,
  Δ_ij[(u, v)] = (u' − u, v' − v) (Sec. 4.2);
- generation (soft): Δ̃_ij[(u, v)] = Σ A_ij[(u, v), (u', v')] · (u' − u, v' − v) (Eq. 7), which
  keeps gradients; since each row of A sums to 1 it is A·coords − coords;
- AMF = {Δ_ij | i, j ∈ [1, F]}, shape [F, F, S, 2] with (x, y) = (column, row) offsets in patches.

Heads: the paper averages Q and K over the heads before Eq. 3 (``head_average="qk"``, our
default); DiTFlow's released code averages the per-head logits Q_h K_hᵀ instead (``"logits"``),
which equals the product of the head-concatenated Q and K divided by the number of heads, so it
needs one S·F × S·F matrix too.
"""
from __future__ import annotations

from evalkit.errors import EvalkitError

HEAD_AVERAGES = ("qk", "logits")
LOSS_MASKS = ("all", "moving")


def token_coords(h: int, w: int, device=None):
    """(x, y) patch coordinates of the h·w tokens of one frame, row-major: [S, 2] float32."""
    import torch

    idx = torch.arange(h * w, device=device)
    return torch.stack([idx % w, idx // w], dim=-1).float()


def cross_frame_logits(q, k, frames: int, head_average: str = "qk"):
    """q, k: [heads, F·S, d] -> scaled logits [F, S, F, S] (float32)."""
    if head_average not in HEAD_AVERAGES:
        raise EvalkitError(f"AMF: head_average {head_average!r} not in {HEAD_AVERAGES}")
    q, k = q.float(), k.float()
    heads, n, d = q.shape
    if n % frames:
        raise EvalkitError(f"AMF: {n} video tokens are not {frames} frames of equal size")
    if head_average == "qk":
        logits = q.mean(0) @ k.mean(0).transpose(0, 1)
    else:  # mean over heads of Q_h K_h^T = concat(Q) concat(K)^T / heads
        logits = (q.transpose(0, 1).reshape(n, heads * d) @ k.transpose(0, 1).reshape(n, heads * d).T) / heads
    s = n // frames
    return (logits / d ** 0.5).view(frames, s, frames, s)


def local_window(coords, window: int):
    """[S, S] bool: key patch within the window × window square centred on the query patch
    (FastVMT's local attention mask; an even window acts as the next odd one); None where the window
    covers every patch pair."""
    half = int(window) // 2
    offset = (coords[None, :, :] - coords[:, None, :]).abs()            # [S (query), S (key), 2]
    inside = (offset <= half).all(dim=-1)
    return None if bool(inside.all()) else inside


def attention_motion_flow(q, k, *, frames: int, grid: tuple[int, int], temperature: float = 2.0,
                          hard: bool = False, head_average: str = "qk", window: int = 0):
    """The AMF of one layer's Q, K ([heads, F·S, d]): [F (i), F (j), S, 2] displacements in patches;
    ``hard`` for the reference (argmax), soft (differentiable) otherwise. ``window`` > 0: between
    different frames each patch attends only to the window × window patches around its own
    position (FastVMT; within a frame, attention stays full as in its release); 0: no mask."""
    import torch

    h, w = grid
    logits = cross_frame_logits(q, k, frames, head_average)           # [Fi, S, Fj, S]
    if logits.shape[1] != h * w:
        raise EvalkitError(f"AMF: {logits.shape[1]} tokens per frame do not form a {h}×{w} grid")
    coords = token_coords(h, w, logits.device)                        # [S, 2]
    inside = local_window(coords, window) if int(window) > 0 else None
    if inside is not None:
        other_frame = ~torch.eye(frames, dtype=torch.bool, device=logits.device)
        keep = inside[None, :, None, :] | ~other_frame[:, None, :, None]   # [Fi, S, Fj, S]
        logits = logits.masked_fill(~keep, float("-inf"))
    if hard:
        target = coords[logits.argmax(dim=-1)]                        # [Fi, S, Fj, 2]
    else:
        target = torch.softmax(float(temperature) * logits, dim=-1) @ coords
    return (target - coords[None, :, None, :]).permute(0, 2, 1, 3)    # [Fi, Fj, S, 2]


def amf_loss(reference, generated, mask: str = "all"):
    """Mean squared displacement error (Eq. 8 up to the constant 1/N, to which Adam is blind);
    ``mask="moving"``: only entries where the reference moves (DiTFlow's code, ``threshloss``)."""
    if mask not in LOSS_MASKS:
        raise EvalkitError(f"AMF loss: mask {mask!r} not in {LOSS_MASKS}")
    diff = (generated - reference.to(generated.dtype)) ** 2
    if mask == "moving":
        moving = reference.norm(dim=-1) > 0
        if not bool(moving.any()):
            return diff.sum() * 0.0
        return diff[moving].mean()
    return diff.mean()
