"""Capture behaviour: keep Q, K and/or V of the acted-on rows with their autograd graph.

Guidance methods (DiTFlow, MotionClone, ...) compute a loss on the attention features of the
current forward pass and back-propagate it to the latent (or to the positional embedding):
unlike :class:`~evalkit.generators.attention.record.Record`, nothing is detached or copied, and
only the latest call of each layer is kept (a gradient-checkpointed backward re-runs the layer
and captures again, which is harmless once the loss is built).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .controller import AttentionCall, Behaviour
from .store import Recorded


@dataclass(kw_only=True)
class Capture(Behaviour):
    """``seen[(layer, what)]``: the video tokens of ``what`` of the latest call of each selected layer."""
    what: tuple[str, ...] = ("q", "k")
    seen: dict = field(default_factory=dict)

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        for w in self.what:
            self.seen[(call.layer, w)] = Recorded(call.video(w, rows), call.layout, call.rope, w)

    def clear(self) -> None:
        self.seen.clear()
