"""The dual-branch convention: a generation and its reference branch side by side in one batch.

V-Warper denoises a reference branch (the reference image repeated over time, DDIM-inverted) in
the same denoiser call as the generation: the batch holds the items ``[generation, reference]``,
and under batched CFG ``[uncond gen, uncond ref, cond gen, cond ref]``. The rows a behaviour
acts on therefore come in (generation, reference) pairs: row ``rows.start + 2j`` is a
generation, ``rows.start + 2j + 1`` its reference.
"""
from __future__ import annotations

from evalkit.errors import EvalkitError


def branch_pairs(rows: slice) -> list[tuple[int, int]]:
    """``[(generation row, reference row), ...]`` of the acted-on rows."""
    n = rows.stop - rows.start
    if n % 2:
        raise EvalkitError(f"dual-branch attention control: {n} acted-on rows is not (generation, reference) pairs")
    return [(rows.start + 2 * j, rows.start + 2 * j + 1) for j in range(n // 2)]


def video_tokens(call, which: str, row: int):
    """The video tokens of one row of q, k or v as ``[heads, tokens, dim]`` (either layout)."""
    t = call.video(which, slice(row, row + 1))[0]
    return t if call.layout == "BHSD" else t.transpose(0, 1)


def text_tokens(call, which: str, row: int):
    """The text tokens (before ``video_start``) of one row as ``[heads, tokens, dim]``."""
    t = getattr(call, which)[row]
    t = t if call.layout == "BHSD" else t.transpose(0, 1)
    return t[:, :call.video_start]


def to_layout(t, layout: str):
    """``[heads, tokens, dim]`` -> one row ``[1, ...]`` in the call's layout."""
    return (t if layout == "BHSD" else t.transpose(0, 1))[None]


def reference_appended_chunks(call, pairs: list[tuple[int, int]], mask=None) -> list:
    """Attention chunks where each generation row's keys/values are its own tokens followed by its
    reference's video tokens (with ``mask`` as the chunk's own mask when given); every other row
    (references, rows not acted on) attends as usual."""
    import torch

    gen = torch.tensor([g for g, _ in pairs])
    ref = torch.tensor([r for _, r in pairs])
    tdim, start = call.token_dim, call.video_start

    def joined(t):
        return torch.cat([t[gen], t[ref].narrow(tdim, start, t.shape[tdim] - start)], dim=tdim)

    chunk = (gen, call.q[gen], joined(call.k), joined(call.v)) + ((mask,) if mask is not None else ())
    taken = set(gen.tolist())
    rest = torch.tensor([r for r in range(call.q.shape[0]) if r not in taken], dtype=torch.long)
    return ([(rest, call.q[rest], call.k[rest], call.v[rest])] if len(rest) else []) + [chunk]
