"""LMP's reference branch (LMP paper Sec. 4.3, 4.5): the real reference video denoised in parallel
with the target, as row 0 of the denoiser's batch.

- :class:`ReferenceBranch` gives the reference latents of each step. ``renoise`` (default) reads
  Eq. 10 ("directly adding noise to real reference videos proportionally") as the backbone's
  forward process applied at every step: z_ref(t_i) = q(z_t | z_0) with one fixed noise ε, so the
  whole reference trajectory is fixed in advance and z_ref(T) = ε (CogVideoX's schedule has zero
  terminal SNR). ``denoise`` is the other reading: noised once to the first step's level, then
  advanced by the scheduler with the model's own (conditional, no CFG) prediction of the
  reference row.
- :class:`ReferenceRows` puts the reference row in front of every pipeline call of the denoiser
  (latent, prompt embeddings, timestep) and takes its output row off again, so the pipeline's own
  sampling loop, CFG and scheduler run unchanged on the target rows. Calls made inside
  :meth:`ReferenceRows.own_call` (the FBDM probe pass, ASM passes) build their batch themselves.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from evalkit.errors import EvalkitError
from evalkit.generators.families.base import Embeds, Latents, ModelFamily

REFERENCE_MODES = ("renoise", "denoise")


class ReferenceBranch:
    def __init__(self, family: ModelFamily, x0: Latents, noise, sched, embeds: Embeds, mode: str = "renoise") -> None:
        if mode not in REFERENCE_MODES:
            raise EvalkitError(f"lmp: reference={mode!r} not in {REFERENCE_MODES}")
        self.family, self.x0, self.noise, self.sched, self.embeds, self.mode = family, x0, noise, sched, embeds, mode
        self._step, self._latent = None, None

    def timestep(self, step: int):
        return self.sched.timesteps[step]

    def latent(self, step: int):
        """The reference's latent at schedule step ``step`` (the denoiser's input layout)."""
        if self.mode == "renoise":
            if self._step != step:
                self._step, self._latent = step, self.family.noise_to(self.sched, self.x0.tensor, self.noise, step)
            return self._latent
        if self._step is None:
            self._step, self._latent = 0, self.family.noise_to(self.sched, self.x0.tensor, self.noise, 0)
        if step != self._step:
            raise EvalkitError(f"lmp: the denoised reference is at step {self._step}, asked for step {step}")
        return self._latent

    def advance(self, step: int, model_output) -> None:
        """``denoise`` mode: one scheduler step of the reference with its prediction at ``step``."""
        if self.mode != "denoise":
            return
        x = self.latent(step)
        try:
            self._latent = self.family.scheduler_step(self.sched, model_output.to(x.dtype), self.timestep(step), x)
        except TypeError as exc:   # e.g. CogVideoXDPMScheduler.step takes the previous x0 and timestep too
            raise EvalkitError(f"lmp: reference=denoise needs a scheduler stepped as step(output, t, x); "
                               f"{type(self.sched).__name__} is not ({exc})") from None
        self._step = step + 1


class ReferenceRows:
    """Context manager on the denoiser: pipeline calls at steps below ``horizon`` get the reference
    as row 0 (after it nothing reads the reference, so the last steps run at the base batch).

    ``before_call(step)`` / ``after_call(step)`` run around every denoiser call (own calls too);
    the step is the controller's.
    """

    def __init__(self, denoiser, branch: ReferenceBranch, controller, *, horizon: int,
                 before_call: Callable[[int], None], after_call: Callable[[int], None]) -> None:
        self.denoiser, self.branch, self.controller, self.horizon = denoiser, branch, controller, int(horizon)
        self.before_call, self.after_call = before_call, after_call
        self._own = self._augmented = False

    @contextlib.contextmanager
    def own_call(self) -> Iterator[None]:
        self._own = True
        try:
            yield
        finally:
            self._own = False

    def __enter__(self) -> "ReferenceRows":
        self._hooks = (self.denoiser.register_forward_pre_hook(self._pre, with_kwargs=True),
                       self.denoiser.register_forward_hook(self._post, with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._hooks:
            h.remove()

    def _pre(self, module, args, kwargs):
        import torch

        step = self.controller.step
        self.before_call(step)
        if self._own or step >= self.horizon:
            return None
        if args or "hidden_states" not in kwargs:
            raise EvalkitError("lmp: the pipeline called the denoiser with positional arguments; "
                               "the reference row can only be added to keyword calls")
        hs, ehs, t = kwargs["hidden_states"], kwargs["encoder_hidden_states"], kwargs["timestep"]
        t_ref = self.branch.timestep(step)
        if not torch.equal(t.reshape(-1)[:1].to(t_ref.device, t_ref.dtype), t_ref.reshape(1)):
            raise EvalkitError(f"lmp: the pipeline's timestep {t.reshape(-1)[0].item()} at step {step} is not the "
                               f"reference schedule's {t_ref.item()}")
        x = self.branch.latent(step)
        if hasattr(self.branch.sched, "scale_model_input"):
            x = self.branch.sched.scale_model_input(x, t_ref)
        self._augmented = True
        return args, dict(kwargs, hidden_states=torch.cat([x.to(hs.dtype), hs]),
                          encoder_hidden_states=torch.cat([self.branch.embeds.embeds.to(ehs.dtype), ehs]),
                          timestep=torch.cat([t.reshape(-1)[:1], t.reshape(-1)]))

    def _post(self, module, args, kwargs, output):
        step = self.controller.step
        self.after_call(step)
        if not self._augmented:
            return None
        self._augmented = False
        pred = output[0] if isinstance(output, tuple) else output.sample
        self.branch.advance(step, pred[:1])
        if isinstance(output, tuple):
            return (pred[1:],) + tuple(output[1:])
        output.sample = pred[1:]
        return output
