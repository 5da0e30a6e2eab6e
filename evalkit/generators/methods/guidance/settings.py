"""The resolved settings of a guidance method: one frozen object per generator, built at construction.

:class:`GuidanceSettings` holds the engine's settings (every option of
:data:`~evalkit.generators.methods.guidance.base.GUIDANCE_DEFAULTS` plus the sampling settings the
engine reads), each method file subclasses it with its own (``DiTFlowSettings``, ...).
:func:`resolve` fills it from the generator's options: an option left at the backbone's default
(``None`` / ``"auto"``, :func:`evalkit.generators.settings.is_default`) takes the method's paper
setting for the backbone (:class:`~evalkit.generators.settings.PaperSettings`), else the backbone
row's value (``steps``, ``guidance_scale``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from evalkit.generators.settings import PaperSettings, is_default

#: the guidance block per backbone (DiTFlow Sec. 5.1: block 20 of CogVideoX-5B, 15 of 2B; Wan: our choice);
#: a backbone without a row guides its middle self-attention layer
DIT_BLOCKS: dict[str, tuple[int, ...]] = {"cogvideox-5b": (20,), "cogvideox-2b": (15,), "wan2.1-1.3b": (15,)}


def paper_table(dit: Mapping[str, Any] | None = None, unet: Mapping[str, Any] | None = None) -> PaperSettings:
    """A method's paper settings: the per-architecture rows, with the DiT guidance block per backbone."""
    dit, unet = dict(dit or {}), dict(unet or {})
    return PaperSettings(rows={name: {**dit, "blocks": blocks} for name, blocks in DIT_BLOCKS.items()},
                         by_architecture={"dit": dit, "unet": unet})


@dataclass(frozen=True)
class GuidanceSettings:
    steps: int
    guidance_scale: float
    negative_prompt: str
    blocks: Any                      # "all", "20-29", an int or a list; None: the middle self-attention layer
    guidance_fraction: float
    opt_steps: int
    optimizer: str
    lr_start: float
    lr_end: float
    lr_schedule: str
    optimise: str
    kv_blocks: Any                   # as ``blocks``; "none": no KV injection
    reference_prompt: str
    reference_timestep: int
    record_seed: int
    zero_shot: bool
    gradient_checkpointing: str
    truncate: bool
    source_frame_repeat: int
    clip_frames: str


#: settings read from the backbone row (DiffusersT2V.opt) rather than from a paper table
BACKBONE_ROW = ("steps", "guidance_scale")
#: ``negative_prompt="release"``: the negative prompt of the method's public release
RELEASE = "release"


def resolve(cls: type, options: Mapping[str, Any], backbone_row, paper: PaperSettings, backbone: str, *,
            release_negative_prompt: str | None = None):
    """``cls`` (a :class:`GuidanceSettings` subclass) from the options, the backbone row and the paper."""
    row = paper.for_backbone(backbone)
    values: dict[str, Any] = {}
    for f in fields(cls):
        value = options.get(f.name)
        if f.name in BACKBONE_ROW:
            value = getattr(backbone_row, f.name) if value is None else value
        elif is_default(value) and f.name in row:
            value = row[f.name]
        values[f.name] = value
    if values["negative_prompt"] == RELEASE and release_negative_prompt is not None:
        values["negative_prompt"] = release_negative_prompt
    return cls(**values)
