"""ConsiStory's vanilla-query blend (NVlabs/consistory ``consistory_utils.py`` ``QueryStore``, with
``query_store_kwargs = {'t_range': [0, n_steps // 10], 'strength_start': 0.9, 'strength_end':
0.81836735}`` in ``consistory_run.py``): in the extended-attention layers, at the first tenth of the
steps, the query becomes ``s·q_vanilla + (1 − s)·q`` with ``s`` falling linearly from 0.9 to 0.818.

ConsiStory takes q_vanilla from an extra uncoupled U-Net call on the current latents of the same
step; here it is the vanilla pass's Q of that step and CFG call (pass 1, the uncoupled trajectory
from the same noise): one denoiser call per step instead of two (named in docs/generators/storyboard.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from evalkit.generators.attention.controller import AttentionCall, Behaviour
from evalkit.generators.attention.q_preserve import PassKeys
from evalkit.generators.attention.store import FeatureStore

#: ConsiStory's blend strengths at the first and last step of its range
STRENGTH_START, STRENGTH_END = 0.9, 0.81836735


def blend_strengths(steps: int) -> list[float]:
    """``s`` at steps 0 … steps // 10 (``np.linspace(0.9, 0.81836735, steps // 10 + 1)``)."""
    n = steps // 10
    return [STRENGTH_START + (STRENGTH_END - STRENGTH_START) * i / n for i in range(n + 1)] if n else [STRENGTH_START]


@dataclass(kw_only=True)
class BlendQ(Behaviour, PassKeys):
    """At active steps where the vanilla Q of the same ``(step, call)`` was recorded:
    ``q ← s·q_vanilla + (1 − s)·q`` with ``s = strengths[step]``."""
    store: FeatureStore
    strengths: tuple[float, ...]

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        rec = self.store.lookup(call.layer, "q", self.pass_key(call))
        if rec is None or call.step >= len(self.strengths):
            return
        region = call.video("q", rows)
        s = self.strengths[call.step]
        call.replace_video("q", rows, (s * rec.tensor.to(region.device) + (1.0 - s) * region).to(region.dtype))
        self.count += 1
