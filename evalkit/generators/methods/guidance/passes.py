"""One controlled denoiser forward pass that returns features, and the noised inputs of such passes.

:class:`FeaturePass` describes what a method reads from a pass: attention Q/K/V of some layers
(captured through the attention-control layer, on the family's processors or a subclass of the
family that selects other layers, e.g. a U-Net's temporal attention), outputs of named modules,
and where the forward may stop. :meth:`FeaturePass.run` runs it with extra behaviours (DiTFlow's
KV injection) at a given step, with or without gradients.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from evalkit.errors import EvalkitError
from evalkit.generators.attention import AttentionController, controlled
from evalkit.generators.attention.capture import Capture

from .features import ModuleOutputs, run_truncated, truncated


@dataclass
class FeaturePass:
    """What to read from one forward pass of ``family``'s denoiser."""
    family: Any                              # the bound ModelFamily
    attention_family: Any = None             # family class whose processors/layer regex to install (None: family's)
    attention_layers: Sequence[str] = ()     # layers whose ``what`` to capture
    what: tuple[str, ...] = ("q", "k")
    modules: Sequence[str] = ()              # modules whose outputs to keep
    stop_module: str | None = None           # truncate the forward when this module is reached
    passes: str = "both"                     # rows captured: one conditional call has a single row
    seen: dict = field(default_factory=dict)

    def run(self, latents, t, embeds, *, grad: bool, step: int = 0, behaviours: Sequence = ()) -> dict:
        """Features of one conditional pass: ``{(layer, what): Recorded, module name: tensor}``."""
        family = self.family
        model = family.denoiser
        att_family = self.attention_family or type(family)
        layers = set(self.attention_layers)
        capture = Capture(what=self.what, layers=layers.__contains__, passes=self.passes)
        ctrl = AttentionController([*behaviours, capture] if layers else list(behaviours))
        with controlled(model, att_family, ctrl), ModuleOutputs(model, self.modules) as outputs, \
                truncated(model, self.stop_module):
            ctrl.start(step=step)
            run_truncated(lambda: family.denoise_once(latents, t, embeds, grad=grad))
        return {**capture.seen, **outputs.seen}


def noised_at(sched, x0, noise, t):
    """``x0`` noised to timestep ``t`` (a training timestep, not a schedule index): DDPM-type
    schedulers by ``add_noise``; flow matching by σ = t / num_train_timesteps."""
    import torch

    if type(sched).__name__.startswith("FlowMatch"):
        sigma = float(t) / float(sched.config.num_train_timesteps)
        return (1.0 - sigma) * x0 + sigma * noise
    return sched.add_noise(x0, noise, torch.as_tensor(t, device=x0.device).reshape(1).long())


def heads_first(recorded):
    """A captured Q/K/V of one row (one video) as [heads, tokens, dim]."""
    t = recorded.tensor
    if t.shape[0] != 1:
        raise EvalkitError(f"captured {recorded.what} has {t.shape[0]} rows; one video was expected")
    return t[0].transpose(0, 1) if recorded.layout == "BSHD" else t[0]
