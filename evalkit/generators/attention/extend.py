"""Extend behaviour: extended attention across the batch items (ConsiStory / LMP / multi-shot style).

Each acted-on row attends to its own K/V followed by the video-token K/V of the other items of
the acted-on rows (for a U-Net, whose rows are frames, the same frame of the other videos:
``rows_per_item`` frames per item). Rows not acted on (the unconditional half under batched CFG
with ``passes="cond"``) are attended as their own chunk, i.e. exactly plain attention.
"""
from __future__ import annotations

from dataclasses import dataclass

from .controller import AttentionCall, Behaviour


@dataclass(kw_only=True)
class ExtendKV(Behaviour):
    rows_per_item: int = 1

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        import torch

        q, k, v, tdim, start = call.q, call.k, call.v, call.token_dim, call.video_start
        idx = list(range(rows.start, rows.stop))
        per = self.rows_per_item
        items = len(idx) // per
        if items <= 1:
            return

        def video_tokens(t, r):
            return t[r:r + 1].narrow(tdim, start, t.shape[tdim] - start)

        ks, vs = [], []
        for r in idx:
            item, frame = divmod(r - rows.start, per)
            others = [rows.start + o * per + frame for o in range(items) if o != item]
            ks.append(torch.cat([k[r:r + 1]] + [video_tokens(k, o) for o in others], dim=tdim))
            vs.append(torch.cat([v[r:r + 1]] + [video_tokens(v, o) for o in others], dim=tdim))
        chunks = [(torch.tensor(idx), q[rows], torch.cat(ks), torch.cat(vs))]
        rest = [r for r in range(q.shape[0]) if r not in idx]
        if rest:
            ri = torch.tensor(rest)
            chunks.insert(0, (ri, q[ri], k[ri], v[ri]))
        call.chunks = chunks
