"""Record behaviour: store Q, K and/or V of the acted-on rows (video tokens only)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

from .controller import AttentionCall, Behaviour
from .store import FeatureStore, Recorded, step_key


@dataclass(kw_only=True)
class Record(Behaviour):
    """Store ``what`` of each selected call under ``(layer, what, key)``; ``key`` None means the step
    index (one recording per step), a value means one recording for all steps (e.g. "single")."""
    store: FeatureStore
    what: tuple[str, ...] = ("q",)
    key: Hashable | None = None

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        key = step_key(self.key, call.step)
        for w in self.what:
            self.store.put(call.layer, w, key,
                           Recorded(call.video(w, rows).detach().clone(), call.layout, call.rope, w))
