"""LMP's Appearance Separation Module (ASM, LMP paper Sec. 4.4, Eq. 7–9).

With the model frozen, gradient descent on the target's hidden states lowers the attention
between the target video tokens and the reference prompt's subject tokens: the loss is the mean
of the top 1/5 of those attention values (Eq. 8), the update ``z ← z − lr·∇z L`` (Eq. 9, lr 100).

Choices (docs/generators/lmp.md): the "hidden states of the target video" are the latents
the denoiser takes (its ``hidden_states`` input), updated before the step's prediction; the
values ranked are the per-token map of
:func:`~evalkit.generators.methods.lmp.text_attention.subject_attention` (text→video and
video→text summed, averaged over heads, subject tokens and layers) over the keys
``[reference text; target video]`` (Eq. 7); one update per denoising step. The backward pass
recomputes each block (gradient checkpointing, option ``asm_checkpointing``): behaviours must act
the same in the recomputation, so nothing that
changes their state (the FBDM refresh) runs during an ASM pass.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

from evalkit.errors import EvalkitError

from ..guidance.optimise import frozen  # noqa: F401  (one definition: LMP freezes like the engine)


def top_fraction_mean(values, fraction: float = 0.2):
    """Mean of the largest ``ceil(fraction · n)`` values (at least one), Eq. 8."""
    if not 0.0 < fraction <= 1.0:
        raise EvalkitError(f"lmp: asm_top_fraction={fraction} must be in (0, 1]")
    flat = values.reshape(-1)
    k = max(1, math.ceil(fraction * flat.numel()))
    return flat.topk(k).values.mean()


@contextlib.contextmanager
def checkpointed(module, enabled: bool = True) -> Iterator[None]:
    """The module's blocks recomputed in the backward pass (diffusers gradient checkpointing) for the
    block, when it supports it: the same gradients, with one block's activations alive at a time
    instead of all of them (CogVideoX-5B at 49×480×720 would otherwise keep ~90 GiB per row)."""
    switch = enabled and getattr(module, "_supports_gradient_checkpointing", False) \
        and not module.is_gradient_checkpointing
    if switch:
        module.enable_gradient_checkpointing()
    try:
        yield
    finally:
        if switch:
            module.disable_gradient_checkpointing()


def asm_update(forward: Callable, z, probe, *, lr: float, iterations: int = 1, fraction: float = 0.2):
    """``iterations`` gradient steps on ``z``; ``forward(z)`` runs the denoiser on a batch holding
    the reference and ``z`` while ``probe`` (a differentiable subject-attention probe) collects
    the map. Returns the updated latents (detached) and the loss before each step."""
    import torch

    losses, dtype = [], z.dtype
    z = z.float()   # the update in float32 (bf16 latents would round small steps away)
    for _ in range(int(iterations)):
        with torch.enable_grad():   # also when called from inside a pipeline's no-grad sampling loop
            zv = z.detach().requires_grad_(True)
            probe.reset()
            probe.armed = True      # through the backward pass too: a recomputed block must probe again
            try:
                forward(zv)
                loss = top_fraction_mean(probe.mean(), fraction)
                if not torch.isfinite(loss):
                    raise EvalkitError("lmp: the ASM loss is not finite")
                (grad,) = torch.autograd.grad(loss, zv)
            finally:
                probe.armed = False
        z = (zv - lr * grad.float()).detach()
        losses.append(float(loss.detach()))
        probe.reset()
    return z.to(dtype), losses
