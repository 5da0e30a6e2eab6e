"""DDIM inversion of the reference branch (V-Warper App. A: "its latent trajectory through DDIM
inversion, so that both branches share synchronized denoising steps").

The clean latent is walked up the sampler's own schedule (the same timesteps, reversed) with the
deterministic DDIM update, conditioned on the reference prompt without CFG; ``trajectory[i]`` is
the latent at the noise level of sampling step ``i``, so the reference branch of step ``i`` is
``trajectory[i]``. As in diffusers' ``DDIMInverseScheduler``, the model is evaluated at the next
(noisier) timestep and its output converted with the current level's ᾱ (ε or v prediction).
"""
from __future__ import annotations

from evalkit.errors import EvalkitError
from evalkit.generators.families.base import Embeds, Latents, ModelFamily


def _x0_eps(model_out, x, alpha, prediction: str):
    a, b = alpha ** 0.5, (1 - alpha) ** 0.5
    if prediction == "v_prediction":
        return a * x - b * model_out, a * model_out + b * x
    if prediction == "epsilon":
        return (x - b * model_out) / a, model_out
    raise EvalkitError(f"DDIM inversion: prediction type {prediction!r} is not supported (epsilon, v_prediction)")


def ddim_inversion(family: ModelFamily, latents: Latents, embeds: Embeds, steps: int) -> list:
    """``[latent at the noise level of sampling step i for i in range(steps)]`` (float32)."""
    import torch

    sched = family.schedule(steps, latents)
    if not hasattr(sched, "alphas_cumprod"):
        raise EvalkitError(f"DDIM inversion needs a DDPM-style scheduler (alphas_cumprod); "
                           f"{type(sched).__name__} has none")
    timesteps = sched.timesteps
    alphas = sched.alphas_cumprod.to(torch.float64)
    prediction = sched.config.prediction_type
    x = latents.tensor.float()
    alpha = torch.tensor(1.0, dtype=torch.float64)   # the clean latent
    trajectory: list = [None] * len(timesteps)
    for i in reversed(range(len(timesteps))):
        t = timesteps[i]
        with torch.no_grad():
            out = family.denoise_once(latents.with_tensor(x), t, embeds).float()
        x0, eps = _x0_eps(out, x, float(alpha), prediction)
        alpha = alphas[int(t)]
        x = float(alpha) ** 0.5 * x0 + float(1 - alpha) ** 0.5 * eps
        trajectory[i] = x
    return trajectory
