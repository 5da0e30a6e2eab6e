"""Model families: one class per kind of diffusers denoiser (Wan, CogVideoX, LTX, U-Net), one file each.

A family registers itself with ``@FAMILIES.register("name")``; a backbone row
(:mod:`evalkit.generators.backbones`) names its family. The contract is
:class:`evalkit.generators.families.base.ModelFamily`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from evalkit.registry import Registry

if TYPE_CHECKING:
    from .base import ModelFamily

FAMILIES: Registry = Registry("model family", "evalkit.generators.families")


def family_class(name: str) -> "type[ModelFamily]":
    return FAMILIES.get(name)
