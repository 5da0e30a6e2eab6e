"""The clean-video estimate x̂0 of every denoising step, as a pipeline runs (MbQ App. B.10).

``x̂0 = (x − √(1−ᾱ_t)·ε_t) / √ᾱ_t`` for ε-prediction (the paper's formula, VideoCrafter2 /
zeroscope; divided by lvdm's latent scale where the sampler has one), ``√ᾱ_t·x − √(1−ᾱ_t)·v`` for
v-prediction (CogVideoX), ``x − σ_t·v`` for flow matching (Wan: ``t = 1000·σ``). :class:`X0Hook`
is a pair of hooks on the denoiser: it collects a step's calls (one under batched CFG,
conditional then unconditional under sequential CFG), forms the guided prediction the pipeline
steps with, and hands ``(step, x̂0)`` of the conditional latents to a callback before the next
step's first call. It changes nothing in the pipeline's computation.

Decoding x̂0 to frames (for CLIPSeg) is the model family's (``family.decode``): a family without
a decoder raises a one-line error naming it.
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
    config = getattr(sched, "config", None) or {}
    kind = config.get("prediction_type", "epsilon")     # lvdm's samplers (VideoCrafter2) predict ε
    if kind == "epsilon":
        x0 = (x - (1 - a).sqrt() * model_output) / a.sqrt()
    elif kind == "v_prediction":
        x0 = a.sqrt() * x - (1 - a).sqrt() * model_output
    elif kind == "sample":
        x0 = model_output
    else:
        raise EvalkitError(f"x̂0: prediction type {kind!r} of {name} is not supported")
    if getattr(sched, "use_scale", False):   # lvdm's latent scale schedule: p_sample_ddim divides by it
        x0 = x0 / float(sched.scale_arr[int(round(float(t)))])
    return x0


class X0Hook:
    """``with X0Hook(denoiser, sched, cfg, guidance, callback, step):`` — ``callback(step, x0)`` once
    per denoising step, before the next step's first denoiser call (and for the last step on exit).
    ``step()`` is the current step (the attention controller's)."""

    def __init__(self, denoiser, sched, cfg: str, guidance: float, callback: Callable[[int, Any], None],
                 step: Callable[[], int]) -> None:
        self.denoiser, self.sched, self.cfg, self.guidance = denoiser, sched, cfg, guidance
        self.callback, self.step = callback, step

    def __enter__(self) -> "X0Hook":
        self._calls: list = []
        self._handles = [self.denoiser.register_forward_pre_hook(self._before),
                         self.denoiser.register_forward_hook(self._after, with_kwargs=True)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        if exc[0] is None:
            self._flush()

    def _before(self, module, args) -> None:
        if self._calls and self._calls[0][0] != self.step():
            self._flush()

    def _after(self, module, args, kwargs, output) -> None:
        x = args[0] if args else kwargs["hidden_states"]
        t = args[1] if len(args) > 1 else kwargs["timestep"]
        out = output[0] if isinstance(output, (tuple, list)) else getattr(output, "sample", output)
        self._calls.append((self.step(), x, t, out))

    def _flush(self) -> None:
        """The step's guided prediction as the pipeline forms it: one batched call ``[uncond, cond]``,
        two calls (conditional first: Wan, VideoCrafter2), or one conditional call (no CFG; T2V-Turbo's
        guidance embedding)."""
        calls, self._calls = self._calls, []
        step, x, t, cond = calls[0]
        t = float(t.flatten()[0]) if hasattr(t, "flatten") else float(t)
        cond = cond.float()
        if len(calls) == 2:
            uncond = calls[1][3].float()
        elif self.cfg == "batched":
            half = x.shape[0] // 2
            uncond, cond, x = cond[:half], cond[half:], x[half:]
        else:
            uncond = cond
        guided = uncond + self.guidance * (cond - uncond)
        self.callback(step, predicted_x0(self.sched, x.float(), guided, t))


def decode_frames(family, x0) -> np.ndarray:
    """uint8 frames ``(items, T, H, W, 3)`` of latents ``x0``, decoded by the model family one item at a
    time (bounded memory)."""
    import torch

    with torch.no_grad():
        return np.stack([family.decode(x0[i:i + 1]) for i in range(x0.shape[0])])
