"""Inject behaviour: replace Q, K and/or V of the acted-on rows with recorded ones."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable

from .controller import AttentionCall, Behaviour
from .store import FeatureStore, step_key


def always(step: int) -> bool:
    return True


@dataclass(kw_only=True)
class Inject(Behaviour):
    """At steps where ``active(step)`` holds, replace the video tokens of ``what`` with
    ``store[(layer, what, key or step)]``; layers/steps with nothing recorded are left alone.
    ``count`` is the number of (layer, step) calls that were changed."""
    store: FeatureStore
    what: tuple[str, ...] = ("q",)
    key: Hashable | None = None
    active: Callable[[int], bool] = always
    count: int = field(default=0, init=False)

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        if not self.active(call.step):
            return
        key = step_key(self.key, call.step)
        changed = False
        for w in self.what:
            rec = self.store.lookup(call.layer, w, key)
            if rec is not None:
                call.replace_video(w, rows, rec.tensor)
                changed = True
        self.count += changed
