"""Shots, frames and tokens of one attention call: the one place that knows where frames live.

Multi-shot behaviours (framewise SDSA, Q flow, refinement injection) think in
``[shots, frames, tokens per frame, heads, dim]``. Where the frames are depends on the
architecture, and this is what changes between the U-Net and the DiTs:

- **U-Net** (spatial self-attention): the rows of a call are frames (``rows = shots × frames``),
  the tokens one frame's ``h × w`` grid;
- **DiT** (Wan, CogVideoX, LTX): the rows are shots, the video tokens are the latent frames'
  grids in frame-major order (``tokens = latent frames × h × w``), after any text tokens
  (CogVideoX's joint attention, ``video_start``).

Under batched CFG one call holds both passes (``[uncond shots, cond shots]``): the acted-on
rows are then ``groups`` consecutive sets of ``shots`` items, each coupled only within itself.
"""
from __future__ import annotations

from dataclasses import dataclass

from evalkit.errors import EvalkitError


@dataclass(frozen=True)
class FrameLayout:
    shots: int                 # items of one pass
    frames: int                # frames per item: U-Net pixel frames (rows per item), DiT latent frames
    frames_in_rows: bool       # U-Net: rows are frames; DiT: tokens are frames

    @property
    def rows_per_item(self) -> int:
        return self.frames if self.frames_in_rows else 1

    def groups(self, rows: int) -> int:
        """How many passes (sets of ``shots`` items) ``rows`` rows hold."""
        per_pass = self.shots * self.rows_per_item
        if rows % per_pass:
            raise EvalkitError(f"attention call with {rows} rows does not hold whole sets of {self.shots} shots "
                               f"× {self.rows_per_item} rows")
        return rows // per_pass

    def to_frames(self, t, layout: str):
        """A region of video tokens (``[rows, S, H, D]`` or ``[rows, H, S, D]``) ->
        ``[groups × shots, frames, tokens per frame, H, D]`` (a view where possible)."""
        x = t.transpose(1, 2) if layout == "BHSD" else t          # -> [rows, S, H, D]
        rows, tokens = x.shape[0], x.shape[1]
        self.groups(rows)
        if self.frames_in_rows:
            return x.reshape(rows // self.frames, self.frames, tokens, *x.shape[2:])
        if tokens % self.frames:
            raise EvalkitError(f"{tokens} video tokens are not {self.frames} frames of equal size")
        return x.reshape(rows, self.frames, tokens // self.frames, *x.shape[2:])

    def from_frames(self, x, layout: str):
        """Inverse of :meth:`to_frames`: back to the region's own layout."""
        items, f, s = x.shape[:3]
        flat = x.reshape(items * f, s, *x.shape[3:]) if self.frames_in_rows else x.reshape(items, f * s, *x.shape[3:])
        return flat.transpose(1, 2) if layout == "BHSD" else flat


def key_frames(frames: int, stride: int) -> list[int]:
    """Key frames every ``stride`` frames, the last frame always one (so every frame lies between two)."""
    if stride < 1:
        raise EvalkitError(f"key frame stride {stride} must be >= 1")
    keys = list(range(0, frames, stride))
    if keys[-1] != frames - 1:
        keys.append(frames - 1)
    return keys


def token_grid(tokens: int, height: int, width: int) -> tuple[int, int]:
    """The ``h × w`` grid of ``tokens`` tokens whose aspect ratio is closest to ``height : width``."""
    best = None
    for h in range(1, tokens + 1):
        if tokens % h == 0:
            w = tokens // h
            err = abs(h / w - height / width)
            if best is None or err < best[0] - 1e-12:
                best = (err, h, w)
    return best[1], best[2]
