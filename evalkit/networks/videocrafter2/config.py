"""VideoCrafter2's configuration: the official ``configs/inference_t2v_512_v2.0.yaml`` of
github.com/AILab-CVC/VideoCrafter as data, and the U-Net / diffusion settings read from it.

A weights folder may carry its own ``config.yaml`` in the same format (tiny test models do);
without one the official configuration applies. Settings of the official ``UNetModel`` that
VideoCrafter2 does not use (relative position, causal temporal attention, scale-shift norm,
res-block up/down sampling, image cross-attention, spatially aware temporal convs) are refused
with an error naming the key rather than silently ignored.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError

#: configs/inference_t2v_512_v2.0.yaml (VideoCrafter repository), minus the lightning-only keys
OFFICIAL_CONFIG: dict[str, Any] = {"model": {"params": {
    "linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000, "scale_factor": 0.18215,
    "use_scale": True, "scale_b": 0.7, "channels": 4, "image_size": [40, 64],
    "unet_config": {"params": {
        "in_channels": 4, "out_channels": 4, "model_channels": 320, "attention_resolutions": [4, 2, 1],
        "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4], "num_head_channels": 64, "transformer_depth": 1,
        "context_dim": 1024, "use_linear": True, "use_checkpoint": True, "temporal_conv": True,
        "temporal_attention": True, "temporal_selfatt_only": True, "use_relative_position": False,
        "use_causal_attention": False, "temporal_length": 16, "addition_attention": True, "fps_cond": True}},
    "first_stage_config": {"params": {"embed_dim": 4, "ddconfig": {
        "double_z": True, "z_channels": 4, "resolution": 512, "in_channels": 3, "out_ch": 3, "ch": 128,
        "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}}},
    "cond_stage_config": {"params": {"freeze": True, "layer": "penultimate"}},
}}}

#: T2V-Turbo(-v2) (github.com/Ji4chenLi/t2v-turbo, app.py): the same U-Net with a guidance-scale
#: embedding (``time_cond_proj``) and, for v2, a motion-guidance embedding (``motion_cond_proj``)
TURBO_V2_UNET = {"time_cond_proj_dim": 256, "motion_cond_proj_dim": 256}

# U-Net options and the only values VideoCrafter2 (and this port) use
_FIXED = {"dims": 2, "conv_resample": True, "use_scale_shift_norm": False, "resblock_updown": False,
          "num_heads": -1, "temporal_selfatt_only": True, "use_relative_position": False,
          "use_causal_attention": False, "use_image_attention": False, "tempspatial_aware": False,
          "temporal_transformer_depth": 1, "use_fp16": False, "dropout": 0.0}
_IGNORED = {"use_checkpoint"}   # gradient checkpointing: training only


@dataclass(frozen=True)
class UNetConfig:
    """The arguments of lvdm's ``UNetModel`` that shape VideoCrafter2's network."""
    in_channels: int = 4
    out_channels: int = 4
    model_channels: int = 320
    attention_resolutions: tuple[int, ...] = (4, 2, 1)
    num_res_blocks: int = 2
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_head_channels: int = 64
    transformer_depth: int = 1
    context_dim: int = 1024
    use_linear: bool = True
    temporal_conv: bool = True
    temporal_attention: bool = True
    temporal_length: int = 16
    addition_attention: bool = True
    fps_cond: bool = True
    time_cond_proj_dim: int | None = None     # T2V-Turbo: guidance-scale embedding
    motion_cond_proj_dim: int | None = None   # T2V-Turbo-v2: motion-guidance embedding

    @classmethod
    def from_params(cls, params: dict[str, Any], *, where: str = "unet_config") -> "UNetConfig":
        names = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in params.items():
            if key in names:
                kwargs[key] = tuple(value) if isinstance(value, list) else value
            elif key in _FIXED:
                if value != _FIXED[key]:
                    raise EvalkitError(f"VideoCrafter2 {where}: {key}={value!r} is not supported "
                                       f"(this port implements {key}={_FIXED[key]!r}, as VideoCrafter2 uses)")
            elif key not in _IGNORED:
                raise EvalkitError(f"VideoCrafter2 {where}: unknown U-Net option {key!r}")
        cfg = cls(**kwargs)
        if cfg.num_head_channels <= 0:
            raise EvalkitError(f"VideoCrafter2 {where}: num_head_channels must be set (num_heads is not supported)")
        return cfg


@dataclass(frozen=True)
class DiffusionConfig:
    """``LatentDiffusion`` settings that the sampler needs (lvdm/models/ddpm3d.py)."""
    linear_start: float = 0.00085
    linear_end: float = 0.012
    timesteps: int = 1000
    scale_factor: float = 0.18215
    use_scale: bool = True      # VideoCrafter2's latent scale schedule (scale_arr)
    scale_a: float = 1.0
    scale_b: float = 0.7
    mid_step: int = 400

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "DiffusionConfig":
        if params.get("fix_scale_bug", False):
            raise EvalkitError("VideoCrafter2 config: fix_scale_bug=True is not supported")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})


def load_config(folder: Path | None) -> dict[str, Any]:
    """``folder/config.yaml`` (the official format) if there is one, else the official config."""
    path = Path(folder) / "config.yaml" if folder is not None else None
    if path is None or not path.is_file():
        return copy.deepcopy(OFFICIAL_CONFIG)
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
        data["model"]["params"]["unet_config"]["params"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise EvalkitError(f"{path}: not a VideoCrafter config (model.params.unet_config.params): {exc}") from None
    return data


def unet_config(config: dict[str, Any], **overrides) -> UNetConfig:
    params = {**config["model"]["params"]["unet_config"]["params"], **overrides}
    return UNetConfig.from_params(params)


def diffusion_config(config: dict[str, Any]) -> DiffusionConfig:
    return DiffusionConfig.from_params(config["model"]["params"])
