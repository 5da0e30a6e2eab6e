"""V-Warper's injection masks (Sec. 4.3, Eq. 5–6; App. A): foreground and cycle consistency.

- **Foreground** ``M_fg``: the V→T attention of the video tokens to the subject's text token(s),
  averaged over the layers and the denoising steps so far (:class:`SubjectMaps`), normalised
  (``fg_normalize``: min–max over the whole video by default, or per frame, or not at all), then
  thresholded at ``τ_fg`` (0.3). The paper thresholds "the aggregated score" without saying how
  it is scaled; a raw softmax share to one token rarely reaches 0.3, hence min–max by default.
- **Cycle consistency** ``M_cc = E_cc < τ_cc · H · ΣM_fg / (H·W)`` (Eq. 5) per latent frame, with
  H × W the frame's token grid and E_cc the round-trip error in tokens.
"""
from __future__ import annotations

from collections import defaultdict

from evalkit.errors import EvalkitError

FG_NORMALIZE = ("video", "frame", "none")


class SubjectMaps:
    """Running sums of subject-token attention maps per branch and step (a sink for
    :class:`~evalkit.generators.methods.vwarper.attention.subject_attention.SubjectAttention`)."""

    def __init__(self) -> None:
        self._sum: dict[str, dict[int, object]] = defaultdict(dict)
        self._count: dict[str, dict[int, int]] = defaultdict(dict)

    def add(self, step: int, layer: str, branch: str, attention) -> None:
        sums = self._sum[branch]
        sums[step] = attention.detach().float() if step not in sums else sums[step] + attention.detach().float()
        self._count[branch][step] = self._count[branch].get(step, 0) + 1

    def mean(self, branch: str, *, before: int):
        """Mean map over the layers of every recorded step < ``before`` (None if there is none)."""
        steps = [s for s in self._sum[branch] if s < before]
        if not steps:
            return None
        total = sum(self._sum[branch][s] for s in steps)
        return total / sum(self._count[branch][s] for s in steps)


def foreground_mask(attention, grid: tuple[int, int, int], tau_fg: float, normalize: str = "video"):
    """Bool ``[N]``: tokens whose normalised subject attention exceeds ``tau_fg``."""
    import torch

    if normalize not in FG_NORMALIZE:
        raise EvalkitError(f"foreground mask: fg_normalize {normalize!r} not in {FG_NORMALIZE}")
    a = attention.float()
    if normalize == "none":
        return a > tau_fg
    per = a.reshape(grid[0], -1) if normalize == "frame" else a.reshape(1, -1)
    lo, hi = per.min(1, keepdim=True).values, per.max(1, keepdim=True).values
    span = hi - lo
    scaled = torch.where(span > 0, (per - lo) / span.clamp_min(1e-12), torch.zeros_like(per))
    return (scaled > tau_fg).reshape(-1)


def cycle_mask(error, fg, grid: tuple[int, int, int], tau_cc: float):
    """Bool ``[N]``: Eq. 5 per latent frame, the threshold scaled by that frame's foreground ratio."""
    frames, h, w = grid
    ratio = fg.reshape(frames, -1).float().mean(1)           # ΣM_fg / (H·W) per frame
    threshold = (tau_cc * h * ratio)[:, None].expand(frames, h * w).reshape(-1)
    return error < threshold
