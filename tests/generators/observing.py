"""Test-side observation of attention control: diagnostics stay out of the production classes."""
from __future__ import annotations

from dataclasses import dataclass, field

from evalkit.generators.attention import AttentionCall, Behaviour


@dataclass(kw_only=True)
class ObserveQ(Behaviour):
    """Keeps the Q video tokens of each acted-on call (after the behaviours before it), per (layer, step)."""
    seen: dict = field(default_factory=dict)

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        self.seen[(call.layer, call.step)] = call.video("q", rows).detach().clone()


def observing(generator_cls):
    """A subclass of an injection generator that keeps its feature store (``.store``) and the target
    pass's post-injection Q (``.observed.seen``), through the ``target_behaviours`` strategy hook."""

    class Observing(generator_cls):
        def target_behaviours(self, store, n_inject):
            behaviours = super().target_behaviours(store, n_inject)
            inject = behaviours[0]
            self.store = store
            self.observed = ObserveQ(layers=inject.layers, passes=inject.passes)
            return behaviours + [self.observed]

    return Observing
