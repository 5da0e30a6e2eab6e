"""Key–value replacement (V-Warper App. B.2 (i), after MasaCtrl / DiTCtrl), an ablation of value warping.

For each (generation, reference) pair of acted-on rows, the generation's video queries inside the
injection mask ``M_gen`` attend to the text keys and the reference's video keys inside its
foreground ``M_ref`` (Eq. 10–11, f^ref); the other video queries to the text keys and the
generation's own video keys outside ``M_gen`` (f^gen); Eq. 12 blends the two by ``M_gen``. Text
queries attend as usual, and text keys/values always come from the generation branch. Because
each query's key set is fixed, the blend is one attention over ``[generation tokens; reference
video tokens]`` with a per-query mask (a chunk's own mask, :func:`.compute.attend`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from evalkit.generators.attention.controller import AttentionCall, Behaviour

from .branches import branch_pairs, reference_appended_chunks


def replacement_mask(text_len: int, gen_mask, ref_mask):
    """Boolean ``[queries, keys]`` (True = attend) over keys ``[text; gen video; ref video]``."""
    import torch

    n = gen_mask.numel()
    total = text_len + n
    mask = torch.zeros(total, total + n, dtype=torch.bool, device=gen_mask.device)
    mask[:text_len, :total] = True                       # text queries: the generation's own keys
    mask[text_len:, :text_len] = True                    # every video query sees the text keys
    fg = gen_mask.bool()
    mask[text_len:, text_len:total] = (~fg)[None, :] & (~fg)[:, None]   # f^gen: background keys
    mask[text_len:, total:] = fg[:, None] & ref_mask.bool()[None, :]     # f^ref: reference foreground
    return mask


@dataclass(kw_only=True)
class KVReplace(Behaviour):
    """``masks(step)`` -> (M_gen, M_ref) as bool ``[video tokens]``, or None to leave the step alone."""
    masks: Callable[[int], Any]

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        masks = self.masks(call.step)
        if masks is None:
            return
        mask = replacement_mask(call.video_start, masks[0].to(call.q.device), masks[1].to(call.q.device))
        call.chunks = reference_appended_chunks(call, branch_pairs(rows), mask[None, None])
        self.count += 1
