"""What methods share about their settings: per-backbone paper settings, layer selections, and
one spelling of "the backbone's default".

- :class:`PaperSettings`: a method's per-backbone settings table (rows named by backbone, with a
  fallback per architecture) and its one lookup, :meth:`PaperSettings.for_backbone`;
- :data:`BACKBONE_DEFAULT`: the option value that means "take it from the backbone row or the
  method's paper settings" (options whose default is ``None`` mean the same; ``"auto"`` is
  accepted as its spelling in run configs);
- :func:`parse_blocks`: ``"all"`` / ``"20-29"`` / ``"1,3"`` / a list -> layer indices.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Mapping, TypeVar

from .backbones import BACKBONES, backbone_spec
from .families import family_class

#: "the backbone's default" (or the method's paper setting for the backbone)
BACKBONE_DEFAULT = None
#: the run-config spelling of :data:`BACKBONE_DEFAULT`
AUTO = "auto"

S = TypeVar("S")


def is_default(value) -> bool:
    """Whether an option value asks for the backbone's default."""
    return value is BACKBONE_DEFAULT or value == AUTO


@dataclass(frozen=True)
class PaperSettings(Generic[S]):
    """A method's settings per backbone: ``rows`` by backbone name, else ``by_architecture``
    (``"dit"`` / ``"unet"``) of the backbone's family."""
    rows: Mapping[str, S]
    by_architecture: Mapping[str, S]

    def for_backbone(self, backbone: str) -> S:
        if backbone in self.rows:
            return self.rows[backbone]
        spec = backbone_spec(backbone)
        return self.by_architecture[family_class(spec.family).architecture]

    def architecture_of(self, backbone: str) -> str:
        spec = BACKBONES.get(backbone)
        return "dit" if spec is None else family_class(spec.family).architecture


def parse_blocks(value) -> tuple[int, ...] | None:
    """``"all"`` -> None; ``"20-29"`` / ``"1,3"`` / a list -> indices."""
    if value == "all":
        return None
    if isinstance(value, str):
        parts: list[int] = []
        for piece in value.split(","):
            lo, _, hi = piece.partition("-")
            parts.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
        return tuple(parts)
    return tuple(int(x) for x in value)
