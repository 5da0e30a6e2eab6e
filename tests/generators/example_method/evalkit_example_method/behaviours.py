"""The method's private attention behaviour: scale the video queries of the acted-on rows."""
from __future__ import annotations

from dataclasses import dataclass

from evalkit.generators.attention import AttentionCall, Behaviour


@dataclass(kw_only=True)
class ScaleQueries(Behaviour):
    factor: float = 1.0

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        call.replace_video("q", rows, call.video("q", rows) * self.factor)
        self.count += 1
