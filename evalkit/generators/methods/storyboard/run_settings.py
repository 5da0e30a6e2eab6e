"""Video Storyboarding's settings: the per-backbone paper rows (:data:`SETTINGS`, App. B.14) and one
generator's resolved settings (:class:`StoryboardRunSettings`, built once from its options)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.generators.settings import PaperSettings, is_default, parse_blocks

Q_MODES = ("preserve+flow", "preserve", "none")
#: U-Net decoder layer paths: diffusers' ``up_blocks``, lvdm's (VideoCrafter2) ``output_blocks``
DECODER_PREFIXES = ("up_blocks.", "output_blocks.")


@dataclass(frozen=True)
class StoryboardSettings:
    """Per-backbone settings of Video Storyboarding (App. B.14)."""
    sdsa_frames: str       # "matching" | "matching+middle" | "all"
    sdsa_layers: str       # "up" (decoder self-attention, ConsiStory's extend_kv_unet_parts) | "all"
    source: str


PAPER_SETTINGS: dict[str, StoryboardSettings] = {
    "videocrafter2": StoryboardSettings("matching", "up", "App. B.14 (VideoCrafter2)"),
    # "we adapt our Framewise-SDSA by allowing each frame to attend to both its temporally matching
    # frames across shots and the middle frame of each shot" (App. B.14)
    "t2v-turbo-v2": StoryboardSettings("matching+middle", "up", "App. B.14 (T2V-Turbo-V2: + middle frame)"),
}
ARCHITECTURE_SETTINGS: dict[str, StoryboardSettings] = {
    "unet": StoryboardSettings("matching", "up", "App. B.14: VideoCrafter2's U-Net settings"),
    "dit": StoryboardSettings("matching", "all", "not in the paper: framewise SDSA in every DiT block"),
}


SETTINGS = PaperSettings(PAPER_SETTINGS, ARCHITECTURE_SETTINGS)


def parse_window(value, name: str) -> tuple[float, float]:
    """``[lo, hi]`` or ``"lo-hi"`` (timesteps, inclusive) -> (lo, hi)."""
    parts = value.split("-") if isinstance(value, str) else list(value)
    try:
        lo, hi = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise EvalkitError(f"option {name}={value!r}: expected two timesteps, e.g. [550, 950] or '550-950'") from None
    if lo > hi:
        raise EvalkitError(f"option {name}={value!r}: the first timestep must be the lower one")
    return lo, hi


@dataclass(frozen=True)
class StoryboardRunSettings:
    """One storyboard generator's resolved settings: its options with the backbone's row of
    :data:`SETTINGS` filled in (``"auto"``), built once at construction."""
    method: str                                 # the registry name (error messages)
    backbone: str
    steps: int
    num_frames: int                             # frames of every shot
    height: int
    width: int
    shot_seeds: str
    anchors: int
    q_mode: str
    t_pres: float
    sdsa_window: tuple[float, float]
    window_timesteps: str                       # "sampler" or "paper" (passes.step_timesteps)
    refine: bool
    refine_window: tuple[float, float]
    refine_alpha: float
    refine_passes: str
    sdsa_frames: str
    sdsa_layers: str
    sdsa_dropout: float
    sdsa_dropout_draw: str                      # "call" or "step" (ConsiStory)
    query_blend: str                            # "none" or "consistory" (q_blend.py)
    sdsa_passes: str
    q_blocks: tuple[int, ...] | None
    q_passes: str
    q_dropout: float
    key_frame_stride: int
    mask_source: str
    dift_timestep: float
    dift_module: str | None                     # None: the family's default (dift.default_dift_module)
    dift_smoothing: str                         # "none" or "gaussian3" (ConsiStory)
    refine_threshold: str                       # "none" or "otsu" (ConsiStory)
    q_cache: str
    source: str                                 # where the backbone row comes from


def resolve_settings(method: str, backbone: str, options: dict[str, Any], steps: int, num_frames: int,
                     height: int, width: int) -> StoryboardRunSettings:
    row = SETTINGS.for_backbone(backbone)
    if int(options["anchors"]) < 1:
        raise EvalkitError(f"{method}: anchors={options['anchors']} must be >= 1")
    return StoryboardRunSettings(
        method=method, backbone=backbone, steps=int(steps), num_frames=int(num_frames), height=int(height),
        width=int(width), shot_seeds=options["shot_seeds"],
        anchors=int(options["anchors"]), q_mode=options["q_mode"], t_pres=float(options["t_pres"]),
        sdsa_window=parse_window(options["sdsa_t"], "sdsa_t"),
        window_timesteps=options["window_timesteps"], refine=bool(options["refine"]),
        refine_window=parse_window(options["refine_t"], "refine_t"), refine_alpha=float(options["refine_alpha"]),
        refine_passes=options["refine_passes"],
        sdsa_frames=row.sdsa_frames if is_default(options["sdsa_frames"]) else options["sdsa_frames"],
        sdsa_layers=row.sdsa_layers if is_default(options["sdsa_layers"]) else options["sdsa_layers"],
        sdsa_dropout=float(options["sdsa_dropout"]),
        sdsa_dropout_draw=options["sdsa_dropout_draw"], query_blend=options["query_blend"],
        sdsa_passes=options["sdsa_passes"],
        q_blocks=parse_blocks(options["q_blocks"]), q_passes=options["q_passes"], q_dropout=float(options["q_dropout"]),
        key_frame_stride=int(options["key_frame_stride"]), mask_source=options["mask_source"],
        dift_timestep=float(options["dift_timestep"]),
        dift_module=None if is_default(options["dift_module"]) else options["dift_module"],
        dift_smoothing=options["dift_smoothing"], refine_threshold=options["refine_threshold"],
        q_cache=options["q_cache"], source=row.source)
