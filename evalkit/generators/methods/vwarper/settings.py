"""V-Warper's resolved settings: one frozen object built when the generator is constructed.

:func:`vwarper_settings` turns the generator's options (backbone defaults resolved: an option
left at ``None`` / ``"auto"`` takes the backbone row's value) into a :class:`VWarperSettings`;
every helper of the package takes ``(family, settings, ...)`` and reads nothing else of the
generator. The coarse stage's part is its own :class:`~.coarse_training.CoarseSettings` (it keys
the trained artifact).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from evalkit.errors import EvalkitError
from evalkit.generators.settings import is_default, parse_blocks

from .coarse_training import CoarseSettings


@dataclass(frozen=True)
class VWarperSettings:
    name: str                       # the registered generator name (for error messages)
    # -- the clip and the sampler (backbone defaults resolved)
    height: int
    width: int
    num_frames: int
    fps: float
    steps: int
    guidance: float
    negative_prompt: str
    # -- fine appearance injection (Sec. 4.2-4.3, App. A)
    injection: str
    masks: str
    match_layer: int
    warp_layers: tuple[int, ...] | None   # None: every layer
    warp_steps: tuple[int, ...]
    match_from: str
    tau_fg: float
    tau_cc: float
    fg_softmax: str
    fg_normalize: str
    mask_layers: tuple[int, ...] | None
    mask_words: str
    scope: str
    head_reduce: str
    warp: str
    passes: str
    reference_image: int
    reference_prompt: str
    reference_branch: str
    # -- coarse appearance adaptation (Sec. 4.1)
    lora: str                       # "train", "none" or a LoRA path
    token_space: str
    checkpoint_every: int
    coarse: CoarseSettings


def indices(spec) -> tuple[int, ...] | None:
    """Layer or step indices: ``"20-29"``, ``"1,3"``, a list, one int, or ``"all"`` (None)."""
    return parse_blocks(str(spec) if isinstance(spec, int) else spec)


def vwarper_settings(name: str, options: Mapping[str, Any], backbone) -> VWarperSettings:
    """The settings of a generator named ``name`` with ``options`` on the backbone row ``backbone``."""
    def resolved(key: str):
        value = options[key]
        return getattr(backbone, key) if is_default(value) else value

    o = options
    height, width = int(resolved("height")), int(resolved("width"))
    warp_steps = tuple(sorted(indices(o["warp_steps"]) or ()))
    if o["injection"] != "none" and not warp_steps:
        raise EvalkitError(f"{name}: warp_steps must name at least one step")
    coarse = CoarseSettings(height=height, width=width, rank=int(o["lora_rank"]),
                            alpha=None if o["lora_alpha"] is None else float(o["lora_alpha"]),
                            targets=o["lora_targets"], lr=float(o["lora_lr"]), token_lr=float(o["token_lr"]),
                            steps=int(o["lora_steps"]), batch_size=int(o["lora_batch_size"]),
                            weight_decay=float(o["lora_weight_decay"]), seed=int(o["lora_seed"]),
                            learn_token=bool(o["learn_token"]), token_space=o["token_space"],
                            prompt=str(o["train_prompt"]), gradient_checkpointing=bool(o["gradient_checkpointing"]))
    return VWarperSettings(
        name=name, height=height, width=width, num_frames=int(o["num_frames"]), fps=float(o["fps"]),
        steps=int(resolved("steps")), guidance=float(resolved("guidance_scale")),
        negative_prompt=str(o["negative_prompt"]), injection=o["injection"], masks=o["masks"],
        match_layer=int(o["match_layer"]), warp_layers=indices(o["warp_layers"]), warp_steps=warp_steps,
        match_from=o["match_from"], tau_fg=float(o["tau_fg"]), tau_cc=float(o["tau_cc"]),
        fg_softmax=o["fg_softmax"], fg_normalize=o["fg_normalize"], mask_layers=indices(o["mask_layers"]),
        mask_words=o["mask_words"], scope=o["scope"], head_reduce=o["head_reduce"], warp=o["warp"],
        passes=o["passes"], reference_image=int(o["reference_image"]), reference_prompt=str(o["reference_prompt"]),
        reference_branch=o["reference_branch"], lora=str(o["lora"]), token_space=o["token_space"],
        checkpoint_every=int(o["lora_checkpoint_every"]), coarse=coarse)
