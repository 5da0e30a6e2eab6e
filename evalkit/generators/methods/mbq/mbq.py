"""Motion by Queries (MbQ): record Q of the source video's self-attention, inject it into the target.

Paper Sec. 3–4 and App. A.1:
- record and inject only the conditional pass;
- U-Net (``per-step``): noise the source latent to each of the first k steps of the 50-step
  schedule (t = 1000 … 600 for k = 40 %), same noise for every level, one denoising step each,
  after a two-step re-noise/denoise consistency pass (Meiri et al.); inject Q_S(t) at step t;
- DiT (``single``, Wan 2.1): Q from one low-noise step, injected at every step of the first
  58–60 % of the schedule, blocks 20–30 only; source frames repeated (App. A.1.1).
The paper does not give Wan's recording step: ``record_step_fraction`` (default 0.9, i.e. step 45
of 50) is our choice. The method's per-backbone settings are :data:`PAPER_SETTINGS`.
``injection_fraction`` sweeps reproduce the analysis of Sec. 3 (Fig. 2); :func:`injection_sweep`
expands one generator config over fractions. The source's recording (VAE latents and recorded
features) depends only on the source and the recording settings: it is made once per process
and shared by every seed and sweep point (``recording``, :data:`RECORDINGS`; a cached one costs no
inversion time, ``extras["recording_cached"]``; :func:`clear_recordings` empties it).

A generator resolves its options once, at construction, into :class:`InjectionSettings`
(``self.settings``); the helpers here take ``(family, settings, ...)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable

from evalkit.cases import MotionTransferCase
from evalkit.errors import EvalkitError
from evalkit.generators.diffusers_t2v import COMMON_BOUNDS, COMMON_DEFAULTS, COMMON_TYPES, DiffusersT2V, Run
from evalkit.generators.families.base import Embeds, Latents
from evalkit.generators.loading import DTYPES
from evalkit.generators.settings import PaperSettings, is_default, parse_blocks
from evalkit.registry import GENERATORS
from evalkit.timing import stage_timer

from .recordings import RECORDINGS


@dataclass(frozen=True)
class MbQSettings:
    """Motion by Queries' settings for one backbone (paper App. A.1 / A.1.1)."""
    record: str                         # "single" low-noise step (DiT) or "per-step" (U-Net, t=1000..600)
    fraction: float                     # share of the steps injected
    blocks: tuple[int, ...] | None      # None: all self-attention layers
    consistency_steps: int = 0          # re-noise/denoise pass before extraction (Meiri et al.; U-Net)
    source_frame_repeat: int = 1        # App. A.1.1 (evalkit.frame_repeat)
    source: str = ""                    # where the numbers come from


_DIT_NOT_IN_PAPER = "not in the paper: Wan's DiT settings, all blocks"
PAPER_SETTINGS: dict[str, MbQSettings] = {
    # App. A.1.1: Q from blocks 20-30 (0-based 20..29 of the 30), injected for 58-60 % of the steps
    "wan2.1-1.3b": MbQSettings("single", 0.6, tuple(range(20, 30)), source_frame_repeat=2, source="App. A.1.1"),
    # the paper's Wan is the 1.3B (30 blocks); the 14B (40 blocks) takes its fraction, with all blocks
    "wan2.1-14b": MbQSettings("single", 0.6, None, source_frame_repeat=2,
                              source="not in the paper: the 1.3B's fraction (App. A.1.1), all blocks"),
    "cogvideox-2b": MbQSettings("single", 0.6, None, source_frame_repeat=2, source=_DIT_NOT_IN_PAPER),
    "cogvideox-5b": MbQSettings("single", 0.6, None, source_frame_repeat=2, source=_DIT_NOT_IN_PAPER),
    "ltx-video": MbQSettings("single", 0.4, None, source_frame_repeat=2,
                             source="App. A.1.1: 40 %; V-moment matching not implemented"),
    "zeroscope": MbQSettings("per-step", 0.4, None, consistency_steps=2,
                             source="App. A.1: VideoCrafter2's U-Net settings"),
    # Sec. 3 / App. A.1: 50 DDPM steps, Q of all spatial self-attention layers recorded at
    # t = 1000, 980, ... (VideoCrafter's timesteps 981, 961, ...) with one noise, conditional pass
    # only, after the two-step consistency pass; Q_S(t) injected at the first k steps (k = 20)
    "videocrafter2": MbQSettings("per-step", 0.4, None, consistency_steps=2,
                                 source="Sec. 3 / App. A.1: 20 recorded tensors, injection ending at t=600"),
    "t2v-turbo-v2": MbQSettings("per-step", 0.4, None, consistency_steps=2,
                                source="not in the paper (Sec. 3 names T2V-Turbo-V2, 8 steps): VideoCrafter2's "
                                       "settings"),
    "animatediff": MbQSettings("per-step", 0.4, None, consistency_steps=2,
                               source="not in the paper: VideoCrafter2's U-Net settings"),
}
#: Sec. 3 says Q is recorded "20 times … 20 Q tensors (Q_S(50), Q_S(49), …, Q_S(30)), corresponding to
#: DDPM steps t=1000, 980, …, 600" — but 50…30 (t = 1000…600) are 21 steps. Default: 20 tensors (Sec. 3's
#: count, "up to 40 % of DDPM steps", Fig. 2's 40 %), injection ending before t=600 (steps t=1000…620).
#: The other reading, 21 tensors through t = 600 inclusive, is ``injection_fraction=VC2_21_TENSORS``.
VC2_21_TENSORS = 0.42
#: backbones without a row: the paper's settings for their architecture (recorded in extras)
ARCHITECTURE_SETTINGS: dict[str, MbQSettings] = {
    "unet": MbQSettings("per-step", 0.4, None, consistency_steps=2, source="App. A.1: U-Net default"),
    "dit": MbQSettings("single", 0.6, None, source="App. A.1.1: DiT default (Wan's fraction, all blocks)"),
}

#: Fig. 2 x-axes: 0–40 % of the steps for the U-Net (VideoCrafter2), 0–60 % for Wan
SWEEP_FRACTIONS = {"unet": (0.0, 0.1, 0.2, 0.3, 0.4), "dit": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)}

SETTINGS = PaperSettings(PAPER_SETTINGS, ARCHITECTURE_SETTINGS)


@dataclass(frozen=True)
class InjectionSettings:
    """One feature-injection generator's resolved settings: its options with the backbone's paper
    row (:data:`SETTINGS`) filled in, built once at construction."""
    what: tuple[str, ...]               # the attention features recorded and injected ("q"; "k", "v")
    record: str                         # "single" low-noise step or "per-step"
    fraction: float                     # share of the steps injected
    blocks: tuple[int, ...] | None      # None: every self-attention layer
    consistency_steps: int              # Meiri et al.'s re-noise/denoise pass before the recording
    source_frame_repeat: int            # App. A.1.1 (evalkit.frame_repeat)
    record_step_fraction: float         # single mode: the recorded step's place in the schedule
    passes: str                         # "cond" or "both" CFG passes
    record_prompt: str                  # "source" or "empty"
    record_seed: int                    # seed of the recording noise (one noise for every level)
    steps: int                          # denoising steps of the target generation
    scheduler_mu: float | None          # flow-matching time shift μ (App. A.1.1: 3.065); None: the pipeline's
    source: str                         # where the paper row's numbers come from

    @property
    def injected_steps(self) -> int:
        """"The first k steps": k = fraction × steps, rounded to the nearest step."""
        return int(math.floor(self.fraction * self.steps + 0.5))

    @property
    def record_key(self) -> str | None:
        """The store key: None (the step index) per step, one fixed key for a single recording."""
        return None if self.record == "per-step" else "single"

    def recorded_steps(self, schedule_length: int) -> list[int]:
        """Step indices of the recording passes: the injected steps (per step), else one low-noise step."""
        if self.record == "per-step":
            return list(range(self.injected_steps))
        if not self.injected_steps:
            return []
        return [min(schedule_length - 1, int(self.record_step_fraction * schedule_length))]


def resolve_settings(name: str, backbone: str, options: dict[str, Any], steps: int,
                     what: tuple[str, ...]) -> InjectionSettings:
    """The settings of a feature-injection generator ``name`` from its options (None / "auto": the
    backbone's paper row)."""
    row = SETTINGS.for_backbone(backbone)
    fraction = row.fraction if is_default(options["injection_fraction"]) else float(options["injection_fraction"])
    if not 0.0 <= fraction <= 1.0:
        raise EvalkitError(f"{name}: injection_fraction={fraction} outside [0, 1]")
    repeat = options["source_frame_repeat"]
    repeat = row.source_frame_repeat if is_default(repeat) else int(repeat)
    if repeat < 1:
        raise EvalkitError(f"{name}: source_frame_repeat={repeat} must be >= 1")
    return InjectionSettings(
        what=tuple(what), record=row.record if is_default(options["record"]) else options["record"],
        fraction=fraction, blocks=row.blocks if is_default(options["blocks"]) else parse_blocks(options["blocks"]),
        consistency_steps=row.consistency_steps, source_frame_repeat=repeat,
        record_step_fraction=float(options["record_step_fraction"]), passes=options["passes"],
        record_prompt=options["record_prompt"], record_seed=int(options["record_seed"]), steps=int(steps),
        scheduler_mu=None if options["scheduler_mu"] is None else float(options["scheduler_mu"]), source=row.source)


# -- helpers: (family, settings, ...) --------------------------------------------------------
def injection_layers(family, settings: InjectionSettings) -> Callable[[str], bool]:
    """The predicate selecting the self-attention layers recorded and injected (the settings' blocks)."""
    from evalkit.generators.attention import block_filter, self_attention_layers

    return block_filter(self_attention_layers(family.denoiser, type(family)), settings.blocks)


def timesteps_at(family, settings: InjectionSettings, steps: list[int], latents: Latents) -> list[int]:
    """The schedule's timesteps at step indices (e.g. VideoCrafter2: 0 -> 981, the paper's t = 1000)."""
    timesteps = family.schedule(settings.steps, latents).timesteps
    return [int(timesteps[i]) for i in steps]


def consistency_pass(family, settings: InjectionSettings, x0: Latents, embeds: Embeds, noise_gen) -> Latents:
    """Meiri et al. latent-space consistency (MbQ App. A.1): noise x0 by the last steps of the
    schedule and denoise it back to a clean latent with the recording prompt."""
    import torch

    n = settings.consistency_steps
    if n <= 0:
        return x0
    sched = family.schedule(settings.steps)
    noise = torch.randn(x0.tensor.shape, generator=noise_gen, device="cpu").to(x0.tensor)
    x = family.noise_to(sched, x0.tensor, noise, len(sched.timesteps) - n)
    for t in sched.timesteps[-n:]:
        eps = family.denoise_once(x0.with_tensor(x), t, embeds).to(x.dtype)
        x = family.scheduler_step(sched, eps, t, x)
    return x0.with_tensor(x)


def record_source(family, settings: InjectionSettings, x0: Latents, embeds: Embeds, recorder) -> list[int]:
    """Run ``recorder`` on the source latents noised to each recorded step (one noise for every
    level, drawn from ``record_seed`` after the consistency pass); returns the recorded steps."""
    import torch

    from evalkit.generators.attention import AttentionController, controlled

    noise_gen = torch.Generator(device="cpu").manual_seed(settings.record_seed)
    x0 = consistency_pass(family, settings, x0, embeds, noise_gen)
    noise = torch.randn(x0.tensor.shape, generator=noise_gen, device="cpu").to(x0.tensor)
    sched = family.schedule(settings.steps, x0)
    indices = settings.recorded_steps(len(sched.timesteps))
    ctrl = AttentionController([recorder])
    with controlled(family.denoiser, type(family), ctrl):
        for i in indices:
            ctrl.start(step=i)
            family.denoise_once(x0.with_tensor(family.noise_to(sched, x0.tensor, noise, i)), sched.timesteps[i],
                                embeds)
    return indices


def injection_sweep(config: dict[str, Any], fractions: Iterable[float] | None = None) -> list[dict[str, Any]]:
    """One generator config per injection fraction (Sec. 3 analysis; run each on same- and
    different-subject cases and score Motion Fidelity and Identity Leakage per fraction)."""
    if fractions is None:
        fractions = SWEEP_FRACTIONS[SETTINGS.architecture_of(config.get("backbone", COMMON_DEFAULTS["backbone"]))]
    out = []
    for f in fractions:
        if not 0.0 <= float(f) <= 1.0:
            raise EvalkitError(f"injection_sweep: fraction {f} outside [0, 1]")
        out.append({**config, "injection_fraction": float(f)})
    return out


class FeatureInjection(DiffusersT2V):
    """Record attention features of the source, inject them into the target generation.

    Subclasses change what is injected (``inject_what``), their defaults, or the strategies:
    :meth:`recorder` (the recording behaviour) and :meth:`target_behaviours` (what acts on
    the target generation: the injection, then anything a variant adds). ``self.settings`` holds
    the resolved settings (:class:`InjectionSettings`).
    """
    #: every family, a plugged-in one too: only the ModelFamily contract is used (encode_video,
    #: schedule, noise_to, denoise_once, the attention processors)
    families: ClassVar[tuple[str, ...] | None] = None
    inject_what: ClassVar[tuple[str, ...]] = ("q",)
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS,
        "injection_fraction": None,     # None: the method's setting for the backbone (PAPER_SETTINGS)
        "blocks": None,                 # None: the method's setting; "all" or a list of indices
        "record": "auto",               # auto: the method's setting ("single" DiT, "per-step" U-Net)
        "record_step_fraction": 0.9,    # single mode: record at this fraction of the schedule
        "passes": "cond",               # App. A.1: conditional pass only
        "record_prompt": "source",      # prompt of the recording pass: the case's source prompt or ""
        "record_seed": 0,               # seed of the recording noise (same for all levels)
        "source_frame_repeat": None,    # None: the method's setting (App. A.1.1); 1 when the dataset repeats
        "scheduler_mu": None,           # None: the pipeline's schedule; App. A.1.1 gives μ = 3.065 (Wan, LTX)
    }
    choices: ClassVar[dict[str, tuple]] = {
        "dtype": DTYPES, "record": ("auto", "single", "per-step"),
        "passes": ("cond", "both"), "record_prompt": ("source", "empty")}
    types: ClassVar[dict[str, type]] = {**COMMON_TYPES, "injection_fraction": float, "source_frame_repeat": int,
                                        "scheduler_mu": float}
    bounds: ClassVar[dict[str, tuple]] = {**COMMON_BOUNDS, "injection_fraction": (0.0, 1.0),
                                          "record_step_fraction": (0.0, 1.0), "source_frame_repeat": (1, None),
                                          "record_seed": (0, None)}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        self.settings = self.resolve_settings()

    def resolve_settings(self) -> InjectionSettings:
        return resolve_settings(self.registry_name, self.spec.name, self.options, int(self.opt("steps")),
                                self.inject_what)

    # -- strategies ----------------------------------------------------------------------
    def recorder(self, store):
        from evalkit.generators.attention import Record

        s = self.settings
        return Record(store=store, what=s.what, key=s.record_key, layers=injection_layers(self.family, s),
                      passes=s.passes)

    def target_behaviours(self, store, n_inject: int) -> list:
        from evalkit.generators.attention import Inject

        s = self.settings
        return [Inject(store=store, what=s.what, key=s.record_key, layers=injection_layers(self.family, s),
                       passes=s.passes, active=lambda step: step < n_inject)]

    # -- the method --------------------------------------------------------------------
    def record(self, case: MotionTransferCase, store, n_inject: int) -> tuple[Latents, list[int], dict]:
        """Fill ``store`` from the source video; returns (source latents, recorded steps, sub-timings)."""
        s, family, detail = self.settings, self.family, {}
        frames, fps = self.source_clip(case, s.source_frame_repeat)
        with stage_timer(self.device, detail, "vae_encode"):
            x0 = family.encode_video(frames, fps)
        emb = self.embed(case.source_prompt if s.record_prompt == "source" else "")
        with stage_timer(self.device, detail, "record_passes"):
            indices = record_source(family, s, x0, emb, self.recorder(store))
        return x0, indices, detail

    def recording_key(self, case: MotionTransferCase, n_inject: int) -> str:
        """What the recording depends on: the source (frames and prompt), the backbone and every
        option but the injection fraction, the recorder, and which steps are recorded; not the
        seed of the generated video, nor (single mode) the fraction of steps injected."""
        from evalkit.hashing import stable_hash

        steps = n_inject if self.settings.record == "per-step" else n_inject > 0
        options = {k: v for k, v in self.options.items() if k != "injection_fraction"}
        return stable_hash("recording", self.version, type(self).recorder.__qualname__, self.inject_what,
                           options, case.source.fingerprint(), case.source_prompt, steps)

    def recording(self, case: MotionTransferCase, n_inject: int):
        """(source latents, recorded steps, sub-timings, store, cached): recorded once per
        recording key in this process and shared by every seed, sweep point and method that
        records alike (:data:`RECORDINGS`, on the device)."""
        from evalkit.generators.attention import FeatureStore

        key = self.recording_key(case, n_inject)
        entry = RECORDINGS.get(key)
        if entry is not None:
            return (*entry, True)
        store = FeatureStore()
        source, recorded_at, detail = self.record(case, store, n_inject)
        RECORDINGS.put(key, (source, recorded_at, detail, store))
        return source, recorded_at, detail, store, False

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        from evalkit.generators.attention import AttentionController, Inject

        s, timings = self.settings, {}
        n_inject = s.injected_steps
        with self.family.time_shift(s.scheduler_mu):   # recording schedule and sampling alike
            with stage_timer(self.device, timings, "inversion"):
                source, recorded_at, detail, store, cached = self.recording(case, n_inject)
            behaviours = self.target_behaviours(store, n_inject)
            with stage_timer(self.device, timings, "inference"):
                frames = self.sample(case.target_prompt, seed, num_frames=source.num_frames, fps=source.fps,
                                     controller=AttentionController(behaviours), output_type=output_type)
            recorded_timesteps = timesteps_at(self.family, s, recorded_at, source)
        extras = {"backbone": self.spec.name, "seed": int(seed), "injection_fraction": s.fraction,
                  "injected_steps": n_inject, "recorded_at_steps": recorded_at,
                  "recorded_at_timesteps": recorded_timesteps, "scheduler_mu": s.scheduler_mu,
                  "recorded_bytes": store.nbytes, "recorded_tensors": len(store),
                  "injections": sum(b.count for b in behaviours if isinstance(b, Inject)),
                  "source_frames": source.num_frames, "source_frame_repeat": s.source_frame_repeat,
                  "backbone_settings": s.source, "recording_detail_s": detail, "recording_cached": cached}
        return Run(frames, timings, source.fps, extras)


@GENERATORS.register("mbq")
class MotionByQueries(FeatureInjection):
    """Motion by Queries: Q-injection motion transfer."""
