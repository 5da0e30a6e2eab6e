"""Reading the official ``model.ckpt`` and mapping it onto the networks evalkit builds.

- U-Net: ``model.diffusion_model.*`` loads as it is into :class:`.unet.UNetModel` (official names);
- autoencoder: ``first_stage_model.*`` (the LDM ``AutoencoderKL``) into diffusers'
  ``AutoencoderKL`` with diffusers' own LDM converter and config derivation;
- text encoder: ``cond_stage_model.model.*`` (OpenCLIP ViT-H-14, ``layer: penultimate``) into
  transformers' ``CLIPTextModel`` with diffusers' OpenCLIP converter, keeping all layers but the
  last (the official encoder stops before the last residual block, then applies ``ln_final``:
  exactly ``CLIPTextModel(num_hidden_layers=layers-1).last_hidden_state``).

Before anything is built, the checkpoint's tensors are checked against the key list derived
from the configuration (:mod:`.keys`): one error names the missing, unexpected and
wrongly-shaped tensors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from evalkit.errors import EvalkitError

from .keys import TEXT, UNET, VAE, Shapes


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The flat state dict of a Lightning / DeepSpeed / plain torch checkpoint: memory-mapped tensors
    where the file allows; a file that pickles training state besides the weights is read as
    VideoCrafter's own scripts read it (``weights_only=False``: the file the user named)."""
    reasons = []
    for kwargs in ({"weights_only": True, "mmap": True}, {"weights_only": True}, {"weights_only": False}):
        try:
            data = torch.load(str(path), map_location="cpu", **kwargs)
            break
        except Exception as exc:   # noqa: BLE001 - each reading's reason is reported
            reasons.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    else:
        raise EvalkitError(f"cannot read checkpoint {path}: {reasons[-1]}")
    if isinstance(data, dict) and "state_dict" in data:
        data = data["state_dict"]
    elif isinstance(data, dict) and "module" in data:   # DeepSpeed: keys prefixed "_forward_module."
        data = {k.split(".", 1)[1]: v for k, v in data["module"].items()}
    if not isinstance(data, dict):
        raise EvalkitError(f"checkpoint {path} holds no state dict")
    return data


def check_keys(state: dict[str, torch.Tensor], expected: Shapes, *, what: str, prefixes: tuple[str, ...] = ()) -> None:
    """Every expected tensor present with its shape, nothing else under ``prefixes``."""
    prefixes = prefixes or tuple(sorted({k.split(".", 1)[0] + "." for k in expected}))
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k.startswith(prefixes) and k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} (expected {expected[k]})" for k in expected
              if k in state and tuple(state[k].shape) != tuple(expected[k])]
    if missing or unexpected or shapes:
        parts = [f"{len(x)} {name}: {', '.join(x[:5])}{' …' if len(x) > 5 else ''}"
                 for name, x in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)) if x]
        raise EvalkitError(f"{what} does not match the VideoCrafter2 architecture of its configuration: "
                           + "; ".join(parts))


def check_schedule(state: dict[str, torch.Tensor], what: str, **ours) -> None:
    """The ``LatentDiffusion`` schedule buffers a checkpoint holds (``alphas_cumprod``, ``scale_arr``)
    agree with the sampler's: the sampler is checked against the official file, not only the config."""
    import numpy as np

    for name, mine in ours.items():
        if name not in state or mine is None:
            continue
        theirs, mine = state[name].double().cpu().numpy(), np.asarray(mine, np.float64)
        if theirs.shape != mine.shape or not np.allclose(theirs, mine, rtol=1e-5, atol=1e-7):
            raise EvalkitError(f"{what}: its {name} buffer differs from the sampler's schedule "
                               f"(first values {theirs[:3].tolist()} vs {mine[:3].tolist()})")


def strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def text_dims(state: dict[str, torch.Tensor], heads: int | None = None) -> dict[str, int]:
    """The OpenCLIP text tower's sizes read off the checkpoint (heads: width/64, as ViT-H-14's 16)."""
    tok, pos = state[TEXT + "token_embedding.weight"], state[TEXT + "positional_embedding"]
    layers = 1 + max(int(k[len(TEXT):].split(".")[2]) for k in state if k.startswith(TEXT + "transformer.resblocks."))
    width = int(tok.shape[1])
    return {"width": width, "layers": layers, "heads": heads or width // 64, "vocab_size": int(tok.shape[0]),
            "context_length": int(pos.shape[0]), "embed_dim": int(state[TEXT + "text_projection"].shape[1])}


def build_vae(config: dict[str, Any], state: dict[str, torch.Tensor]):
    """diffusers ``AutoencoderKL`` from ``first_stage_model.*`` (diffusers' LDM conversion)."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint, create_vae_diffusers_config_from_ldm

    vae_state = {k: v for k, v in state.items() if k.startswith(VAE)}
    cfg = create_vae_diffusers_config_from_ldm(config, vae_state)
    vae = AutoencoderKL(**cfg)
    vae.load_state_dict(convert_ldm_vae_checkpoint(vae_state, cfg), strict=True)
    return vae


def build_text_encoder(state: dict[str, torch.Tensor], dims: dict[str, int]):
    """transformers ``CLIPTextModel`` = the official penultimate-layer OpenCLIP text encoder."""
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModel

    last = f"{TEXT}transformer.resblocks.{dims['layers'] - 1}."
    text_state = {k: v for k, v in state.items() if k.startswith(TEXT) and not k.startswith(last)}
    cfg = CLIPTextConfig(vocab_size=dims["vocab_size"], hidden_size=dims["width"], intermediate_size=4 * dims["width"],
                         num_hidden_layers=dims["layers"] - 1, num_attention_heads=dims["heads"],
                         max_position_embeddings=dims["context_length"], hidden_act="gelu",
                         projection_dim=dims["embed_dim"], bos_token_id=dims["vocab_size"] - 2,
                         eos_token_id=dims["vocab_size"] - 1)   # OpenCLIP: <start>, <end> last in the vocabulary
    model = CLIPTextModel(cfg)
    converted = convert_open_clip_checkpoint(model, text_state, prefix=TEXT)
    converted.pop("text_projection.weight", None)   # CLIPTextModel has no projection (not used here)
    if not any(k.startswith("text_model.") for k in model.state_dict()):   # transformers >= 5: no wrapper
        converted = {k.removeprefix("text_model."): v for k, v in converted.items()}
    result = model.load_state_dict(converted, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]   # a buffer the model builds
    if missing or result.unexpected_keys:
        raise EvalkitError(f"text encoder conversion: unset {missing[:5]}, unexpected {result.unexpected_keys[:5]}")
    return model


__all__ = ["read_state_dict", "check_keys", "check_schedule", "strip", "text_dims", "build_vae",
           "build_text_encoder", "UNET", "VAE", "TEXT"]
