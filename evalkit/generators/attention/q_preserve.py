"""Q preservation (Motion by Queries App. B.3, phase 1): the vanilla generation's Q replaces the
consistent generation's, step by step, at the preservation steps.

:class:`RecordAt` records Q of the vanilla pass at the steps that need it (optionally onto another
device: the cache offload); :class:`PreserveQ` injects it, with Q dropout (App. B.13: each token
keeps its own Q with probability ``dropout``, trading motion for identity). A recording of one
item is tiled over the call's items (one source Q injected into a batch of targets, MbQ Fig. 3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

from evalkit.errors import EvalkitError

from .controller import AttentionCall
from .inject import Inject
from .record import Record
from .store import Recorded


class PassKeys:
    """Mixin: the store key of a call is ``(step, n)``, ``n`` numbering the calls of one layer in one
    step, so the two calls of sequential CFG (Wan) keep their own recordings."""

    def pass_key(self, call: AttentionCall) -> Hashable:
        seen = self.__dict__.setdefault("_seen", {})
        n = seen.get((call.layer, call.step), 0)
        seen[(call.layer, call.step)] = n + 1
        return (call.step, n)


@dataclass(kw_only=True)
class RecordAt(Record, PassKeys):
    """:class:`Record` at the steps where ``active(step)`` holds, under ``(step, call)`` keys (or the
    fixed ``key``), stored on ``device`` (None: where it was computed)."""
    device: Any = None

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        key = self.pass_key(call) if self.key is None else self.key
        for w in self.what:
            t = call.video(w, rows).detach()
            t = t.to(self.device, copy=True) if self.device is not None else t.clone()
            self.store.put(call.layer, w, key, Recorded(t, call.layout, call.rope, w))


def token_dropout(region, layout: str, p: float, generator):
    """Boolean ``[rows, tokens]`` draw (True with probability ``p``) shaped to broadcast over ``region``."""
    import torch

    rows, tokens = region.shape[0], region.shape[1 if layout == "BSHD" else 2]
    drop = (torch.rand((rows, tokens), generator=generator) < p).to(region.device)
    return drop[:, :, None, None] if layout == "BSHD" else drop[:, None, :, None]


@dataclass(kw_only=True)
class PreserveQ(Inject, PassKeys):
    """Inject :class:`RecordAt`'s recordings (same ``(step, call)`` keys) at active steps."""
    dropout: float = 0.0
    generator: Any = None      # torch.Generator of the dropout draws

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.dropout < 1.0:
            raise EvalkitError(f"Q dropout {self.dropout} outside [0, 1)")

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        import torch

        key = self.pass_key(call) if self.key is None else self.key
        changed = False
        for w in self.what:
            rec = self.store.lookup(call.layer, w, key)
            if rec is None:
                continue
            region = call.video(w, rows)
            value = rec.tensor.to(region.device)
            n, r = value.shape[0], region.shape[0]
            if n not in (1, r):
                if r % n:
                    raise EvalkitError(f"attention layer {call.layer}: a recording of {n} rows cannot fill {r} rows")
                value = value.repeat(r // n, *([1] * (value.ndim - 1)))   # one item's features, every item
            if self.dropout:
                value = torch.where(token_dropout(region, call.layout, self.dropout, self.generator), region, value)
            call.replace_video(w, rows, value)
            changed = True
        self.count += changed
