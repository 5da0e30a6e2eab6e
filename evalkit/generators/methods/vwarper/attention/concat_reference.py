"""Token concatenation (V-Warper App. B.2 (ii), after OminiControl), an ablation of value warping.

Each generation row of an acted-on (generation, reference) pair attends to its own tokens and,
appended, to the reference branch's video-token keys and values, which keep their original RoPE
positions (a training-free setup cannot shift them, App. B.2). The reference rows, and rows not
acted on, attend as usual, so the reference branch stays a reconstruction of the reference.
"""
from __future__ import annotations

from dataclasses import dataclass

from evalkit.generators.attention.controller import AttentionCall, Behaviour

from .branches import branch_pairs, reference_appended_chunks


@dataclass(kw_only=True)
class ConcatReference(Behaviour):

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        call.chunks = reference_appended_chunks(call, branch_pairs(rows))
        self.count += 1
