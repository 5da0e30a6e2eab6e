"""Inject behaviour: replace Q, K and/or V of the acted-on rows with recorded ones."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

from .controller import AttentionCall, Behaviour
from .store import FeatureStore, step_key


@dataclass(kw_only=True)
class Inject(Behaviour):
    """At steps where ``active(step)`` holds, replace the video tokens of ``what`` with
    ``store[(layer, what, key or step)]``; layers/steps with nothing recorded are left alone.
    ``count`` is the number of (layer, step) calls that were changed."""
    store: FeatureStore
    what: tuple[str, ...] = ("q",)
    key: Hashable | None = None

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        key = step_key(self.key, call.step)
        changed = False
        for w in self.what:
            rec = self.store.lookup(call.layer, w, key)
            if rec is not None:
                call.replace_video(w, rows, rec.tensor)
                changed = True
        self.count += changed
