"""``GuidedTransfer``: the shared generator of optimisation-based motion transfer methods.

A method (one small file: ``ditflow.py``, ``smm.py``, ``moft.py``, ``motionclone.py``,
``dmt.py``) says what it reads from a forward pass (:meth:`feature_pass`), what the reference
video's motion representation is (:meth:`reference_target`) and the loss between the two
(:meth:`loss`). The engine does the rest, as DiTFlow Sec. 4.3/5.1 and its release describe:

1. inversion stage: the source clip (resized; truncated or padded to k·f+1 frames) is VAE-encoded
   and one reference pass reads its features (DiTFlow: t = 0, empty prompt);
2. the pipeline samples the target prompt; before each of the first ``guidance_fraction`` of the
   steps the KV of the reference is recorded for injection in ``kv_blocks`` (DiTFlow), then
   ``opt_steps`` Adam steps with a linearly decreasing learning rate change z_t (``optimise=
   latent``) or the positional embedding ρ (``optimise=positional``) to lower the loss at the
   ``blocks`` layers (:mod:`.sampler`);
3. ``zero_shot``: ρ (or z_t) is optimised once per source video with the case's source prompt
   (the Caption prompt of DiTFlow's benchmark) and replayed, without optimisation, for the
   target prompt (DiTFlow Sec. 5.3, Fig. 7).

The options resolve once, at construction, into ``self.settings`` (the method's
``settings_class``; ``None`` options take the method's ``PAPER`` row for the backbone); the
generator is refused at construction on a backbone outside ``families``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

from evalkit.cases import MotionTransferCase
from evalkit.errors import EvalkitError
from evalkit.frame_repeat import repeat_frames
from evalkit.generators.diffusers_t2v import COMMON_DEFAULTS, DiffusersT2V, Run
from evalkit.generators.loading import DTYPES
from evalkit.generators.settings import PaperSettings, parse_blocks
from evalkit.timing import stage_timer

from .optimise import CHECKPOINTING, OPTIMISERS
from .passes import FeaturePass, noised_at
from .sampler import GuidedRun, PerStepKV
from .schedule import LR_SCHEDULES, guided_steps, learning_rate
from .settings import RELEASE, GuidanceSettings, paper_table, resolve

GUIDANCE_DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "blocks": None,                  # guidance layers; None: the method's paper setting for the backbone
    "guidance_fraction": 0.2,        # T_opt: the first 20 % of the steps (DiTFlow Sec. 5.1)
    "opt_steps": 5,                  # K_opt Adam steps per guided step
    "optimizer": "adam",             # adam (Sec. 5.1) | adamw | sgd (App. B Table 3c)
    "lr_start": 0.002,               # linearly decreasing ... (DiTFlow Sec. 5.1, after DMT)
    "lr_end": 0.001,
    "lr_schedule": "endpoints",      # endpoints | ditflow-code | constant (schedule.py)
    "optimise": "latent",            # latent (z_t) | positional (ρ)
    "kv_blocks": "0",                # KV injection layers (DiTFlow: the first DiT block); "none"
    "reference_prompt": "empty",     # prompt of the reference pass: "" (DiTFlow Eq. 2) or the case's source prompt
    "reference_timestep": 0,         # timestep of the reference pass (DiTFlow: t = 0, the clean latent)
    "record_seed": 0,                # noise of a noised reference pass (reference_timestep > 0)
    "zero_shot": False,              # optimise on the source prompt, replay for the target prompt (Fig. 7)
    "gradient_checkpointing": "auto",
    "truncate": True,                # stop optimisation forwards after the last needed layer (same result)
    "source_frame_repeat": 1,
    "clip_frames": "truncate",       # source frames -> k·f+1: truncate (DiTFlow: 24 -> 21) or pad
}
_ZERO_SHOT_CACHE = 4   # optimisations kept per generator instance (one per source video × seed)


def inherited(name: str) -> dict:
    """The diffusers generators' declared option ``types`` / ``bounds`` (where this evalkit declares them)."""
    return dict(getattr(DiffusersT2V, name, {}))


def _indices(value, n: int) -> tuple[int, ...]:
    """Block option -> indices: an int, ``"20"``, ``"10,15,20"``, ``"20-29"``, a list, or ``"all"``."""
    if isinstance(value, int):
        return (value,)
    parsed = parse_blocks(value)
    return tuple(range(n)) if parsed is None else parsed


class GuidedTransfer(DiffusersT2V):
    """Base of the guidance methods (not registered itself)."""
    defaults: ClassVar[dict[str, Any]] = GUIDANCE_DEFAULTS
    choices: ClassVar[dict[str, tuple]] = {
        "dtype": DTYPES, "optimise": ("latent", "positional"), "reference_prompt": ("empty", "source"),
        "lr_schedule": LR_SCHEDULES, "gradient_checkpointing": CHECKPOINTING, "clip_frames": ("truncate", "pad"),
        "optimizer": OPTIMISERS}
    types: ClassVar[dict[str, type]] = {**inherited("types"), "blocks": object, "kv_blocks": object}
    bounds: ClassVar[dict[str, tuple]] = {
        **inherited("bounds"), "guidance_fraction": (0.0, 1.0), "opt_steps": (0, None), "lr_start": (0.0, None),
        "lr_end": (0.0, None), "reference_timestep": (0, None), "source_frame_repeat": (1, None)}
    #: the DiTs the engine's DiT forms run on (the positional variable needs the family's hooks)
    families: ClassVar[tuple[str, ...] | None] = ("cogvideox", "wan")
    #: the method's paper settings per backbone (options left at None take them)
    PAPER: ClassVar[PaperSettings] = paper_table()
    #: the frozen settings type the method builds at construction
    settings_class: ClassVar[type[GuidanceSettings]] = GuidanceSettings
    #: ``negative_prompt="release"``: the method's release's negative prompt (None: the method has none)
    RELEASE_NEGATIVE_PROMPT: ClassVar[str | None] = None

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        if self.options["negative_prompt"] == RELEASE and self.RELEASE_NEGATIVE_PROMPT is None:
            raise EvalkitError(f"{self.registry_name}: negative_prompt='release' names no release negative prompt "
                               "for this method")
        self.settings = resolve(self.settings_class, self.options, self.spec, self.PAPER, self.spec.name,
                                release_negative_prompt=self.RELEASE_NEGATIVE_PROMPT)
        self._zero_shot: OrderedDict = OrderedDict()
        self.latent_grid: tuple[int, int, int] | None = None

    # -- method hooks ------------------------------------------------------------------
    def feature_pass(self) -> FeaturePass:
        raise NotImplementedError

    def reference_target(self, feats: dict) -> Any:
        raise NotImplementedError

    def loss(self, target: Any, feats: dict):
        raise NotImplementedError

    def target_at(self, run: GuidedRun, i: int) -> Any:
        """The motion representation the loss compares with at guided step i (default: one for all)."""
        return run.target

    def initial_latents(self, run: GuidedRun, z):
        """The latents the sampling starts from, given the pipeline's random ones (DMT); default: those."""
        return z

    def post_step(self, run: GuidedRun, i: int, z):
        """Change the latents after denoising step i (DMT's restart); default: none."""
        return z

    def update_rule(self) -> str:
        """How the gradient is used: "optimise" (Adam on z_t or ρ) or "score" (MotionClone on U-Nets)."""
        return "optimise"

    def reuse_every(self) -> int:
        """Updates per computed gradient in an optimisation (FastVMT's gradient reuse); default 1: none."""
        return 1

    def score_step(self, run: GuidedRun, i: int, grad):
        """The correction subtracted from the latents after step i (score rule)."""
        raise NotImplementedError

    # -- layers and steps from the settings ----------------------------------------------
    @property
    def guidance(self) -> float:
        return float(self.settings.guidance_scale)

    @property
    def negative_prompt(self) -> str:
        return self.settings.negative_prompt

    def attention_layers(self) -> list[str]:
        from evalkit.generators.attention import self_attention_layers

        return self_attention_layers(self.family.denoiser, type(self.family))

    def blocks(self) -> tuple[int, ...]:
        b = self.settings.blocks
        if b is None:
            return (len(self.attention_layers()) // 2,)
        return _indices(b, len(self.attention_layers()))

    def layers_at(self, blocks) -> list[str]:
        names = self.attention_layers()
        bad = [b for b in blocks if not 0 <= b < len(names)]
        if bad:
            raise EvalkitError(f"{self.registry_name}: block(s) {bad} out of range ({self.spec.name} has "
                               f"{len(names)} self-attention layers)")
        return [names[b] for b in blocks]

    def guidance_layers(self) -> list[str]:
        return self.layers_at(self.blocks())

    def block_modules(self, blocks) -> list[str]:
        """The DiT blocks holding the self-attention layers at ``blocks`` (their outputs are SMM's and
        MOFT's features): ``transformer_blocks.20.attn1`` -> ``transformer_blocks.20``."""
        return [name.rpartition(".")[0] for name in self.layers_at(blocks)]

    def kv_blocks(self) -> tuple[int, ...]:
        v = self.settings.kv_blocks
        return () if v in (None, "none", "") else _indices(v, len(self.attention_layers()))

    def stop_module(self, blocks) -> str | None:
        """Where an optimisation/reference forward may stop: the self-attention layer after the last
        needed block (DiT blocks run in order); None without truncation."""
        names = self.attention_layers()
        last = max(blocks) if blocks else len(names) - 1
        return names[last + 1] if self.settings.truncate and last + 1 < len(names) else None

    def guided(self) -> list[int]:
        return guided_steps(int(self.settings.steps), self.settings.guidance_fraction, what=self.registry_name)

    def learning_rates(self, n: int) -> list[float]:
        s = self.settings
        return [learning_rate(k, n, s.lr_start, s.lr_end, s.lr_schedule) for k in range(n)]

    def loss_weights(self, n: int) -> list[float] | None:
        return None

    # -- the method --------------------------------------------------------------------
    def source_latents(self, case: MotionTransferCase):
        """The case's source at the model's size, k·f+1 frames (truncated or padded), VAE-encoded."""
        r = int(self.settings.source_frame_repeat)
        frames, fps = self.source_clip(case, r)
        if self.settings.clip_frames == "truncate":
            n = len(repeat_frames(case.source.load(), r, 1 if r > 1 else 0, item=f"case {case.case_id}").frames)
            f = self.family.temporal_factor()
            frames = frames[: ((n - 1) // f) * f + 1]
        return self.family.encode_video(self.resample_source(frames), fps)

    def resample_source(self, frames):
        """The source frames the method encodes (MotionClone's release resamples them); default: all."""
        return frames

    def record_noise(self, x0, seed: int):
        """The noise of a noised reference pass: a fixed CPU stream from ``record_seed`` (the same noise
        on every device, whatever the case seed)."""
        import torch

        gen = torch.Generator(device="cpu").manual_seed(int(self.settings.record_seed))
        return torch.randn(x0.tensor.shape, generator=gen).to(x0.tensor)

    def reference(self, x0, case: MotionTransferCase, seed: int) -> Any:
        """The reference pass (no gradients) and the method's motion representation of it."""
        s = self.settings
        emb = self.embed("" if s.reference_prompt == "empty" else case.source_prompt)
        t = int(s.reference_timestep)
        x = x0
        if t > 0:
            noise = self.record_noise(x0, seed)
            x = x0.with_tensor(noised_at(self.family.schedule(int(s.steps), x0), x0.tensor, noise, t))
        return self.reference_target(self.feature_pass().run(x, t, emb, grad=False))

    def new_run(self, x0, target, prompt: str, mode: str, seed: int, stored: dict | None = None) -> GuidedRun:
        from .positional import PositionalOffset

        guided = self.guided()
        kv_blocks = self.kv_blocks()
        kv = None
        if kv_blocks:
            kv = PerStepKV(self.family, self.layers_at(kv_blocks), self.stop_module(kv_blocks), set(guided))
        s = self.settings
        offset = PositionalOffset(self.family) if s.optimise == "positional" else None
        return GuidedRun(self, self.family, self.registry_name, x0, self.embed(prompt),
                         self.family.schedule(int(s.steps), x0), guided,
                         self.learning_rates(len(guided)), mode=mode, variable=s.optimise,
                         opt_steps=int(s.opt_steps), optimiser=s.optimizer, reuse_every=self.reuse_every(),
                         offset=offset, kv=kv,
                         weights=self.loss_weights(len(guided)),
                         checkpointing=s.gradient_checkpointing, device=self.device,
                         target=target, seed=int(seed), stored=dict(stored or {}))

    def sample_guided(self, run: GuidedRun, prompt: str, seed: int, output_type: str) -> tuple[Any, float]:
        """The pipeline call with ``run`` acting before every step; (frames, seconds of the call)."""
        import contextlib

        do_cfg = float(self.settings.guidance_scale) > 1.0
        ctrl = run.controller(cfg=self.family.cfg if do_cfg else "none")
        spent: dict[str, float] = {}
        with (run.offset or contextlib.nullcontext()), self.family.initial_latents_through(ctrl.first_step), \
                stage_timer(self.device, spent, "call"):
            frames = self.sample(prompt, seed, num_frames=run.x0.num_frames, fps=run.x0.fps, controller=ctrl,
                                 output_type=output_type)
        return frames, spent["call"]

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        timings: dict[str, float] = {}
        with stage_timer(self.device, timings, "inversion"):
            x0 = self.source_latents(case)
            self.latent_grid = x0.grid   # the clip's latent (frames, height, width): token geometry
            target = self.reference(x0, case, seed)
        zero_shot = None
        if self.settings.zero_shot:
            zero_shot = self._zero_shot_optimisation(case, seed, x0, target, timings)
        run = self.new_run(x0, target, case.target_prompt, "replay" if zero_shot else self.update_rule(), seed,
                           zero_shot["stored"] if zero_shot else None)
        frames, call = self.sample_guided(run, case.target_prompt, seed, output_type)
        for stage, seconds in run.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        timings["inference"] = call - sum(run.timings.values())
        timings.setdefault("optimization", 0.0)
        return Run(frames, timings, x0.fps, self.extras(case, seed, run, x0, zero_shot))

    def _zero_shot_optimisation(self, case, seed, x0, target, timings) -> dict:
        """The optimisation on the case's source prompt, once per (source, prompt, seed) and instance;
        its whole cost is this case's ``optimization`` (0 when reused)."""
        key = (case.source.fingerprint(), case.source_prompt, int(seed))
        if key in self._zero_shot:
            self._zero_shot.move_to_end(key)
            return {**self._zero_shot[key], "reused": True}
        if self.update_rule() != "optimise":
            raise EvalkitError(f"{self.registry_name}: zero_shot needs an optimised variable (Adam), "
                               f"not the {self.update_rule()} rule")
        opt = self.new_run(x0, target, case.source_prompt, "optimise", seed)
        with stage_timer(self.device, timings, "optimization"):
            self.sample_guided(opt, case.source_prompt, seed, "latent")
        entry = {"stored": opt.stored, "prompt": case.source_prompt,
                 "losses": {str(i): v for i, v in opt.losses.items()}}
        self._zero_shot[key] = entry
        while len(self._zero_shot) > _ZERO_SHOT_CACHE:
            self._zero_shot.popitem(last=False)
        return {**entry, "reused": False}

    def extras(self, case, seed, run: GuidedRun, x0, zero_shot) -> dict:
        losses = zero_shot["losses"] if zero_shot else {str(i): v for i, v in run.losses.items()}
        return {"backbone": self.spec.name, "seed": int(seed), "guided_steps": run.guided,
                "opt_steps": run.opt_steps, "optimizer": run.optimiser, "optimised": run.variable, "mode": run.mode,
                "learning_rates": run.lrs, "losses": losses, "guidance_layers": self.guidance_layers(),
                "kv_layers": self.layers_at(self.kv_blocks()) if self.kv_blocks() else [],
                "kv_injections": run.kv.inject.count if run.kv else 0,
                "reference_timestep": int(self.settings.reference_timestep),
                "reference_prompt": self.settings.reference_prompt, "source_frames": x0.num_frames,
                "zero_shot": None if not zero_shot else {"optimised_on": zero_shot["prompt"],
                                                          "reused": zero_shot["reused"]},
                "stage_detail_s": dict(run.timings)}
