"""Guidance inside the pipeline's own denoising loop.

The pipeline samples as usual (so zero guided steps reproduce ``vanilla`` bit for bit); before
each denoising step i, :class:`GuidedRun` may change the latents z_t or the positional offset δ:

- step 0: the pipeline's initial latents pass through :meth:`GuidedController.first_step` (the
  family's :meth:`~evalkit.generators.families.base.ModelFamily.initial_latents_through`);
- step i > 0: :class:`GuidedController`, the attention controller of the pipeline call, receives
  the latents in the step callback (``callback_on_step_end``: returned to the pipeline; the U-Net
  pipeline's legacy ``callback``: written in place, its return value is ignored).

At a guided step the run records DiTFlow's per-step KV for injection (:class:`PerStepKV`), then
optimises (Adam on z_t or δ), replays a stored optimisation (zero-shot reuse), or computes a
score-style correction applied after the step (MotionClone on U-Nets). Seconds spent here go to
the generation's ``inversion`` (reference passes) and ``optimization`` (gradient steps) stages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from evalkit.errors import EvalkitError
from evalkit.generators.attention import AttentionController, FeatureStore, Inject, Record
from evalkit.timing import stage_timer

from .optimise import frozen, gradient_checkpointing, gradient_descent, loss_gradient
from .passes import FeaturePass

MODES = ("optimise", "replay", "score")


class GuidedController(AttentionController):
    """The pipeline call's controller: runs its behaviours (KV injection) and hands the latents to
    ``before_step(i, z)`` before every denoising step i."""

    def __init__(self, behaviours, before_step: Callable, *, cfg: str = "none") -> None:
        super().__init__(behaviours, cfg=cfg)
        self.before_step = before_step

    def first_step(self, z):
        new = self.before_step(0, z)
        self.start(step=0)   # the passes run here counted as denoiser calls: reset
        return new

    def on_step_end(self, pipe, i, t, callback_kwargs):
        z = callback_kwargs["latents"]
        new = self.before_step(int(i) + 1, z)
        self.start(step=int(i) + 1)
        return {} if new is z else {"latents": new}

    def legacy_callback(self, i, t, latents) -> None:
        new = self.before_step(int(i) + 1, latents)
        if new is not latents:
            latents.copy_(new)
        self.start(step=int(i) + 1)


class PerStepKV:
    """DiTFlow's KV injection (Sec. 5.1; the release's protocol): before guided step i the
    reference latent, noised to t_i with the generation's initial noise, is passed with the target
    prompt; K and V of the injection layers are recorded and replace the generation's (video
    tokens, both CFG passes) at step i, in the optimisation passes and in the pipeline's step."""

    def __init__(self, family, layers: list[str], stop_module: str | None, guided: set[int]) -> None:
        self.store = FeatureStore()
        self.family, self.layers = family, set(layers)
        self.inject = Inject(store=self.store, what=("k", "v"), key="kv", layers=self.layers.__contains__,
                             passes="both", active=guided.__contains__)
        self.recorder = Record(store=self.store, what=("k", "v"), key="kv", layers=self.layers.__contains__,
                               passes="both")
        self.pass_ = FeaturePass(family, stop_module=stop_module)

    def record(self, x0, noise, sched, i: int, embeds) -> None:
        x = self.family.noise_to(sched, x0.tensor, noise.to(x0.tensor.dtype), i)
        self.pass_.run(x0.with_tensor(x), sched.timesteps[i], embeds, grad=False, step=i, behaviours=[self.recorder])


class GuidanceHooks(Protocol):
    """What a guidance method tells the run (``GuidedTransfer`` implements it)."""

    def feature_pass(self) -> FeaturePass: ...
    def target_at(self, run: "GuidedRun", i: int) -> Any: ...
    def loss(self, target: Any, feats: dict): ...
    def initial_latents(self, run: "GuidedRun", z): ...
    def post_step(self, run: "GuidedRun", i: int, z): ...
    def score_step(self, run: "GuidedRun", i: int, grad): ...


@dataclass
class GuidedRun:
    """One guided generation: what happens before each denoising step (see the module docstring)."""
    method: GuidanceHooks            # the method's hooks: features, target, loss, initial latents, post step
    family: Any                      # the bound ModelFamily
    what: str                        # the method's name (in error messages)
    x0: Any                          # the source's Latents (geometry of the generation, reference latent)
    embeds: Any                      # conditional embeddings of the prompt being generated
    sched: Any                       # a copy of the pipeline's schedule
    guided: list[int]
    lrs: list[float]
    mode: str = "optimise"           # optimise | replay | score
    variable: str = "latent"         # latent | positional
    opt_steps: int = 5
    reuse_every: int = 1             # FastVMT: a computed gradient every r-th update (optimise.py)
    optimiser: str = "adam"
    offset: Any = None               # PositionalOffset when variable == "positional"
    kv: PerStepKV | None = None
    weights: list[float] | None = None   # per guided step loss weight (MotionClone ramps)
    checkpointing: str = "auto"
    device: str = "cpu"
    target: Any = None               # the reference's motion representation (method-specific)
    seed: int = 0                    # the case seed (methods seed their own extra noise from it)
    state: dict = field(default_factory=dict)     # method-specific per-run state
    stored: dict = field(default_factory=dict)    # guided step -> optimised latents or δ
    losses: dict = field(default_factory=dict)    # guided step -> losses of its updates
    timings: dict = field(default_factory=dict)   # inversion / optimization seconds spent here
    noise: Any = None
    _pending: Any = None

    def __post_init__(self) -> None:
        from dataclasses import replace

        # prompt embeddings enter the loss as constants (the text encoder's graph is not ours)
        self.embeds = replace(self.embeds, embeds=self.embeds.embeds.detach(),
                              mask=None if self.embeds.mask is None else self.embeds.mask.detach())
        if self.mode not in MODES:
            raise EvalkitError(f"guidance mode {self.mode!r} not in {MODES}")
        self._k = {step: k for k, step in enumerate(self.guided)}

    def controller(self, cfg: str) -> GuidedController:
        return GuidedController([self.kv.inject] if self.kv else [], self.before_step, cfg=cfg)

    # -- the step hook -------------------------------------------------------------------
    def before_step(self, i: int, z):
        if i == 0:
            self.noise = z.detach().clone()
            z = self.method.initial_latents(self, z)
        if i > 0:
            z = self.method.post_step(self, i - 1, z)
        if self._pending is not None:
            z, self._pending = z - self._pending.to(z.dtype), None
        if self.offset is not None:   # ρ₀ outside guided steps and in the reference's KV pass
            self.offset.active = False
        if i not in self._k:
            return z
        if self.kv is not None:
            with stage_timer(self.device, self.timings, "inversion"):
                self.kv.record(self.x0, self.noise, self.sched, i, self.embeds)
        if self.offset is not None:   # ρ₀ + δ in the optimisation passes and the pipeline's step i
            self.offset.active = True
        if self.mode == "replay":   # setting stored tensors is part of sampling, not optimisation
            return self._replay(i, z)
        with stage_timer(self.device, self.timings, "optimization"):
            return self._guide(i, z)

    def _replay(self, i: int, z):
        if self.variable == "latent":
            return self.stored[i].to(z.device, z.dtype)
        self.offset.set_delta(self.stored[i])
        return z

    def _guide(self, i: int, z):
        import torch

        k, t = self._k[i], self.sched.timesteps[i]
        weight = 1.0 if self.weights is None else self.weights[k]
        target = self.method.target_at(self, i)
        fp = self.method.feature_pass()
        behaviours = [self.kv.inject] if self.kv else []
        x = z.detach().float().clone().requires_grad_(self.variable == "latent")
        lat = self.x0.with_tensor(x)

        def loss_fn():
            feats = fp.run(lat, t, self.embeds, grad=True, step=i, behaviours=behaviours)
            return weight * self.method.loss(target, feats)

        model = self.family.denoiser
        with torch.enable_grad(), frozen(model), gradient_checkpointing(model, self.checkpointing):
            if self.mode == "score":
                grad, value = loss_gradient(loss_fn, x, what=self.what)
                self._pending = self.method.score_step(self, i, grad)
                self.losses[i] = [value]
                return z
            variables = (lambda: [x]) if self.variable == "latent" else self.offset.parameters
            self.losses[i] = gradient_descent(loss_fn, variables, self.opt_steps, self.lrs[k],
                                          what=self.what, optimiser_name=self.optimiser,
                                              reuse_every=self.reuse_every)
        if self.variable == "latent":
            self.stored[i] = x.detach()
            return x.detach().to(z.dtype)
        self.stored[i] = [d.detach().clone() for d in (self.offset.delta or [])]
        return z
