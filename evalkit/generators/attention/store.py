"""Recorded attention features, keyed by ``(layer, what, key)``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable


@dataclass
class Recorded:
    """One recorded tensor: video tokens of the acted-on rows, with its layout facts."""
    tensor: Any            # torch.Tensor
    layout: str            # "BSHD" (batch, tokens, heads, dim) or "BHSD"
    rope_applied: bool
    what: str              # "q", "k" or "v"

    @property
    def token_dim(self) -> int:
        return 1 if self.layout == "BSHD" else 2

    @property
    def nbytes(self) -> int:
        return self.tensor.numel() * self.tensor.element_size()


class FeatureStore(dict):
    """``{(layer, what, key): Recorded}``; ``key`` is a step index or a fixed name such as "single"."""

    def put(self, layer: str, what: str, key: Hashable, recorded: Recorded) -> None:
        self[(layer, what, key)] = recorded

    def lookup(self, layer: str, what: str, key: Hashable) -> Recorded | None:
        return self.get((layer, what, key))

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.values())


def step_key(fixed: Hashable | None, step: int) -> Hashable:
    """The store key at ``step``: ``fixed`` when given (one recording for all steps), else the step."""
    return step if fixed is None else fixed
