"""The update rules of guidance methods and gradient checkpointing.

- :func:`gradient_descent`: K Adam (or AdamW, SGD) steps on the variables (the latent z_t or δ
  of ρ), with a fresh optimiser at every guided denoising step, as DiTFlow's and DMT's code do;
- :func:`loss_gradient`: the gradient of the loss at the latent, for score-style guidance
  (MotionClone on U-Nets subtracts it inside the DDIM step);
- :func:`gradient_checkpointing`: the denoiser's own (diffusers) activation checkpointing for the
  duration of a block, restored afterwards (the pipeline is shared with other generators);
- :func:`frozen`: the denoiser's weights out of autograd while the latent is optimised (no weight
  gradients are computed or accumulated: less memory and about half the backward work).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from evalkit.errors import EvalkitError

CHECKPOINTING = ("auto", "on", "off")
#: DiTFlow App. B Table 3c compares these (torch's defaults for everything but the learning rate)
OPTIMISERS = ("adam", "adamw", "sgd")


def _checked(loss, what: str):
    import torch

    if not bool(torch.isfinite(loss.detach()).all()):
        raise EvalkitError(f"{what}: the guidance loss is not finite ({float(loss.detach())})")
    return loss


def gradient_descent(loss_fn: Callable, variables: Callable[[], list], steps: int, lr: float, *,
                 what: str = "guidance", optimiser_name: str = "adam", reuse_every: int = 1) -> list[float]:
    """``steps`` updates (Adam by default) of ``variables()`` (tensors requiring grad; read after the
    first loss, so lazily created ones work) minimising ``loss_fn()``; returns the loss before each
    update whose gradient was computed. ``reuse_every`` = r > 1: only updates 0, r, 2r, ... run the
    loss and its backward pass, the others step with the last computed gradient (FastVMT's gradient
    reuse, mayuelala/FastVMT@34a050b diffsynth/pipelines/wan_video.py:622-640)."""
    import torch

    if optimiser_name not in OPTIMISERS:
        raise EvalkitError(f"{what}: optimizer {optimiser_name!r} not in {OPTIMISERS}")
    make = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[optimiser_name]
    losses: list[float] = []
    optimiser = None
    params: list = []
    cached: list = []
    for j in range(int(steps)):
        if optimiser is not None and j % max(1, int(reuse_every)):
            for p, g in zip(params, cached):
                p.grad = g.clone()
            optimiser.step()
            continue
        loss = _checked(loss_fn(), what)
        if optimiser is None:
            params = variables()
            if not params:
                raise EvalkitError(f"{what}: nothing to optimise (the loss does not reach the variables)")
            optimiser = make(params, lr=float(lr))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if int(reuse_every) > 1:
            cached = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]
        optimiser.step()
        losses.append(float(loss.detach()))
    return losses


def loss_gradient(loss_fn: Callable, x, *, what: str = "guidance"):
    """(∂ loss / ∂ x at x, loss value); x is a leaf copy of the latent."""
    import torch

    loss = _checked(loss_fn(), what)
    (grad,) = torch.autograd.grad(loss, x)
    return grad, float(loss.detach())


@contextlib.contextmanager
def gradient_checkpointing(model, mode: str) -> Iterator[bool]:
    """Turn the model's activation checkpointing on for the block (``auto``: where the model
    supports it; ``on``: an error where it does not); yields whether it is on."""
    if mode not in CHECKPOINTING:
        raise EvalkitError(f"gradient_checkpointing {mode!r} not in {CHECKPOINTING}")
    supported = bool(getattr(model, "_supports_gradient_checkpointing", False))
    if mode == "on" and not supported:
        raise EvalkitError(f"{type(model).__name__} does not support gradient checkpointing "
                           "(use gradient_checkpointing=off or auto)")
    if mode == "off" or not supported:
        yield False
        return
    was_on = bool(getattr(model, "gradient_checkpointing", False))
    if not was_on:
        model.enable_gradient_checkpointing()
    try:
        yield True
    finally:
        if not was_on:
            model.disable_gradient_checkpointing()


@contextlib.contextmanager
def frozen(model) -> Iterator[None]:
    """``requires_grad`` off for the parameters of ``model`` that have it, restored on exit."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
