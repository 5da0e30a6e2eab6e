"""Value warping (V-Warper Eq. 7–9): reference values moved onto matched generation tokens.

For each (generation, reference) pair of acted-on rows (:mod:`.branches`), the generation's
video-token values become ``M ⊙ V_ref[source] + (1 − M) ⊙ V_gen``: ``source[p]`` is the
reference video token matched to generation token ``p`` and ``M`` the injection mask, both from
the :class:`WarpField` the method computes once per step (``warp(step)``). Queries, keys and the
text tokens' values are left alone, so the generation keeps its own attention routing (App. B.2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from evalkit.generators.attention.controller import AttentionCall, Behaviour

from .branches import branch_pairs, to_layout, video_tokens


@dataclass(frozen=True)
class WarpField:
    """Per generation video token: the reference token its value comes from, and whether it does."""
    source: Any   # LongTensor [tokens]: index into the reference branch's video tokens
    mask: Any     # BoolTensor [tokens]: the injection mask M_t

    @property
    def injected(self) -> int:
        return int(self.mask.sum())


@dataclass(kw_only=True)
class ValueWarp(Behaviour):
    """At steps where ``active(step)``, warp the reference values with ``warp(step)`` (None: leave
    the step alone). ``count`` = calls changed; ``tokens`` = generation tokens overwritten, summed."""
    warp: Callable[[int], WarpField | None]
    tokens: int = field(default=0, init=False)

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        warp = self.warp(call.step)
        if warp is None:
            return
        for gen, ref in branch_pairs(rows):
            v_gen, v_ref = video_tokens(call, "v", gen), video_tokens(call, "v", ref)
            warped = v_ref.index_select(1, warp.source.to(v_ref.device))
            blended = warped.where(warp.mask.to(v_gen.device)[None, :, None], v_gen)
            call.replace_video("v", slice(gen, gen + 1), to_layout(blended, call.layout))
            self.tokens += warp.injected
        self.count += 1
