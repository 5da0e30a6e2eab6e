"""The clean-video estimate x̂0 of every denoising step, as a pipeline runs (MbQ App. B.10).

``x̂0 = (x − √(1−ᾱ_t)·ε_t) / √ᾱ_t`` for ε-prediction (the paper's formula, VideoCrafter2 /
zeroscope), ``√ᾱ_t·x − √(1−ᾱ_t)·v`` for v-prediction (CogVideoX), ``x − σ_t·v`` for flow
matching (Wan: ``t = 1000·σ``). :class:`X0Hook` is a forward hook on the denoiser: it collects a
step's calls (one under batched CFG, conditional then unconditional under Wan's sequential CFG),
forms the guided prediction the pipeline steps with, and hands ``(step, x̂0)`` of the conditional
latents to a callback. It changes nothing in the pipeline's computation.

Decoding x̂0 to frames (for CLIPSeg) is the one model-family-specific piece here
(:data:`DECODERS`, looked up along the family class's bases, so a family derived from the U-Net
family inherits its decoder).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import EvalkitError


def predicted_x0(sched, x, model_output, t: float):
    """x̂0 from the latents ``x`` at timestep ``t`` and the (guided) model output."""
    name = type(sched).__name__
    if name.startswith("FlowMatch"):
        sigma = float(t) / float(sched.config.num_train_timesteps)
        return x - sigma * model_output
    if not hasattr(sched, "alphas_cumprod"):
        raise EvalkitError(f"x̂0: scheduler {name} is not supported (no alphas_cumprod, not flow matching)")
    a = sched.alphas_cumprod[int(round(float(t)))].to(x.device, x.dtype)
    kind = sched.config.get("prediction_type", "epsilon")
    if kind == "epsilon":
        return (x - (1 - a).sqrt() * model_output) / a.sqrt()
    if kind == "v_prediction":
        return a.sqrt() * x - (1 - a).sqrt() * model_output
    if kind == "sample":
        return model_output
    raise EvalkitError(f"x̂0: prediction type {kind!r} of {name} is not supported")


class X0Hook:
    """``with X0Hook(denoiser, sched, cfg, guidance, callback):`` — ``callback(step, x0)`` after each step."""

    def __init__(self, denoiser, sched, cfg: str, guidance: float, callback: Callable[[int, Any], None]) -> None:
        self.denoiser, self.sched, self.cfg, self.guidance, self.callback = denoiser, sched, cfg, guidance, callback
        self.calls_per_step = 2 if cfg == "sequential" else 1

    def __enter__(self) -> "X0Hook":
        self.step, self._calls = 0, []
        self._handle = self.denoiser.register_forward_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()

    def _hook(self, module, args, kwargs, output) -> None:
        x = args[0] if args else kwargs["hidden_states"]
        t = args[1] if len(args) > 1 else kwargs["timestep"]
        out = output[0] if isinstance(output, (tuple, list)) else getattr(output, "sample", output)
        self._calls.append((x, out))
        if len(self._calls) < self.calls_per_step:
            return
        calls, self._calls = self._calls, []
        t = float(t.flatten()[0]) if hasattr(t, "flatten") else float(t)
        if self.cfg == "batched":
            x, out = calls[0]
            half = x.shape[0] // 2
            uncond, cond = out[:half].float(), out[half:].float()
            x = x[half:]
        elif self.cfg == "sequential":
            (x, cond), (_, uncond) = calls
            cond, uncond = cond.float(), uncond.float()
        else:
            x, cond = calls[0]
            cond = uncond = cond.float()
        guided = uncond + self.guidance * (cond - uncond)
        self.callback(self.step, predicted_x0(self.sched, x.float(), guided, t))
        self.step += 1


# -- decoding x̂0 to frames: per model family ------------------------------------------------
def _to_uint8(video) -> np.ndarray:
    """[C, T, H, W] in [-1, 1] -> uint8 (T, H, W, 3)."""
    import torch

    v = ((video.float() / 2 + 0.5).clamp(0, 1) * 255).round().to("cpu", dtype=torch.uint8)
    return v.permute(1, 2, 3, 0).numpy()


def _decode_with_pipeline(family, z):
    # TextToVideoSDPipeline ([B, C, F, h, w]) and CogVideoXPipeline ([B, F, C, h, w]) decode themselves
    return family.pipe.decode_latents(z.to(family.pipe.vae.dtype))


def _decode_wan(family, z):
    import torch

    vae = family.pipe.vae
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(z.device, vae.dtype)
    std = torch.tensor(vae.config.latents_std).view(shape).to(z.device, vae.dtype)
    return vae.decode(z.to(vae.dtype) * std + mean, return_dict=False)[0]


DECODERS: dict[str, Callable] = {"unet": _decode_with_pipeline, "cogvideox": _decode_with_pipeline,
                                 "wan": _decode_wan}


def decode_frames(family, x0) -> np.ndarray:
    """uint8 frames ``(items, T, H, W, 3)`` of latents ``x0`` (one item at a time: bounded memory)."""
    import torch

    for cls in type(family).__mro__:
        decode = DECODERS.get(vars(cls).get("registry_name", ""))
        if decode is not None:
            break
    else:
        raise EvalkitError(f"x̂0 decoding is not available for model family {type(family).registry_name!r} "
                           f"(known: {', '.join(sorted(DECODERS))})")
    with torch.no_grad():
        return np.stack([_to_uint8(decode(family, x0[i:i + 1])[0]) for i in range(x0.shape[0])])
