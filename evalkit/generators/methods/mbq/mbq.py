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
and shared by every seed and sweep point (``recording``; a cached one costs no inversion time,
``extras["recording_cached"]``).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

from evalkit.cases import MotionTransferCase
from evalkit.errors import EvalkitError
from evalkit.generators.diffusers_t2v import COMMON_BOUNDS, COMMON_DEFAULTS, COMMON_TYPES, DiffusersT2V, Run
from evalkit.generators.families.base import Embeds, Latents
from evalkit.generators.loading import DTYPES
from evalkit.generators.peak_memory import stage_timer
from evalkit.generators.settings import PaperSettings, parse_blocks
from evalkit.registry import GENERATORS


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


#: recordings (source latents + recorded features) kept per process: items run case by case, so
#: every seed and sweep point of a case follows its first and reuses its recording
RECORDINGS_KEPT = 2
_RECORDINGS: OrderedDict[str, tuple] = OrderedDict()


SETTINGS = PaperSettings(PAPER_SETTINGS, ARCHITECTURE_SETTINGS)


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
    the target generation: the injection, then anything a variant adds).
    """
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
    }
    choices: ClassVar[dict[str, tuple]] = {
        "dtype": DTYPES, "record": ("auto", "single", "per-step"),
        "passes": ("cond", "both"), "record_prompt": ("source", "empty")}
    types: ClassVar[dict[str, type]] = {**COMMON_TYPES, "injection_fraction": float, "source_frame_repeat": int}
    bounds: ClassVar[dict[str, tuple]] = {**COMMON_BOUNDS, "injection_fraction": (0.0, 1.0),
                                          "record_step_fraction": (0.0, 1.0), "source_frame_repeat": (1, None),
                                          "record_seed": (0, None)}

    # -- resolved options --------------------------------------------------------------
    def settings(self) -> MbQSettings:
        return SETTINGS.for_backbone(self.spec.name)

    def fraction(self) -> float:
        f = self.options["injection_fraction"]
        f = self.settings().fraction if f is None else float(f)
        if not 0.0 <= f <= 1.0:
            raise EvalkitError(f"{self.registry_name}: injection_fraction={f} outside [0, 1]")
        return f

    def record_mode(self) -> str:
        mode = self.options["record"]
        return self.settings().record if mode == "auto" else mode

    def blocks(self) -> tuple[int, ...] | None:
        b = self.options["blocks"]
        return self.settings().blocks if b is None else parse_blocks(b)

    def frame_repeat(self) -> int:
        r = self.options["source_frame_repeat"]
        r = self.settings().source_frame_repeat if r is None else int(r)
        if r < 1:
            raise EvalkitError(f"{self.registry_name}: source_frame_repeat={r} must be >= 1")
        return r

    def num_injected_steps(self) -> int:
        # "the first k steps": k = fraction × steps, rounded to the nearest step
        return int(math.floor(self.fraction() * int(self.opt("steps")) + 0.5))

    def timesteps_of(self, steps: list[int], latents: Latents) -> list[int]:
        """The schedule's timesteps at step indices (e.g. VideoCrafter2: 0 -> 981, the paper's t = 1000)."""
        timesteps = self.family.schedule(int(self.opt("steps")), latents).timesteps
        return [int(timesteps[i]) for i in steps]

    def record_key(self) -> str | None:
        """The store key: None (the step index) per step, one fixed key for a single recording."""
        return None if self.record_mode() == "per-step" else "single"

    # -- strategies ----------------------------------------------------------------------
    def layers(self):
        from evalkit.generators.attention import block_filter, self_attention_layers

        family = self.family
        return block_filter(self_attention_layers(family.denoiser, type(family)), self.blocks())

    def recorder(self, store):
        from evalkit.generators.attention import Record

        return Record(store=store, what=self.inject_what, key=self.record_key(), layers=self.layers(),
                      passes=self.options["passes"])

    def target_behaviours(self, store, n_inject: int) -> list:
        from evalkit.generators.attention import Inject

        return [Inject(store=store, what=self.inject_what, key=self.record_key(), layers=self.layers(),
                       passes=self.options["passes"], active=lambda step: step < n_inject)]

    # -- the method --------------------------------------------------------------------
    def consistency_pass(self, x0: Latents, embeds: Embeds, noise_gen) -> Latents:
        """Meiri et al. latent-space consistency (MbQ App. A.1): noise x0 by the last steps of the
        schedule and denoise it back to a clean latent with the source prompt."""
        import torch

        n, family = self.settings().consistency_steps, self.family
        if n <= 0:
            return x0
        sched = family.schedule(int(self.opt("steps")))
        noise = torch.randn(x0.tensor.shape, generator=noise_gen, device="cpu").to(x0.tensor)
        x = family.noise_to(sched, x0.tensor, noise, len(sched.timesteps) - n)
        for t in sched.timesteps[-n:]:
            eps = family.denoise_once(x0.with_tensor(x), t, embeds).to(x.dtype)
            x = family.scheduler_step(sched, eps, t, x)
        return x0.with_tensor(x)

    def record(self, case: MotionTransferCase, store, n_inject: int) -> tuple[Latents, list[int], dict]:
        """Fill ``store`` from the source video; returns (source latents, recorded steps, sub-timings)."""
        import torch

        from evalkit.generators.attention import AttentionController, controlled

        family, detail = self.family, {}
        frames, fps = self.source_clip(case, self.frame_repeat())
        with stage_timer(self.device, detail, "vae_encode"):
            x0 = family.encode_video(frames, fps)
        emb = self.embed(case.source_prompt if self.options["record_prompt"] == "source" else "")
        noise_gen = torch.Generator(device="cpu").manual_seed(int(self.options["record_seed"]))
        x0 = self.consistency_pass(x0, emb, noise_gen)
        noise = torch.randn(x0.tensor.shape, generator=noise_gen, device="cpu").to(x0.tensor)
        sched = family.schedule(int(self.opt("steps")), x0)
        steps = len(sched.timesteps)
        if self.record_mode() == "per-step":
            indices = list(range(n_inject))
        else:
            indices = [min(steps - 1, int(self.options["record_step_fraction"] * steps))] if n_inject else []
        ctrl = AttentionController([self.recorder(store)])
        with stage_timer(self.device, detail, "record_passes"), controlled(family.denoiser, type(family), ctrl):
            for i in indices:
                ctrl.start(step=i)
                family.denoise_once(x0.with_tensor(family.noise_to(sched, x0.tensor, noise, i)),
                                    sched.timesteps[i], emb)
        return x0, indices, detail

    def recording_key(self, case: MotionTransferCase, n_inject: int) -> str:
        """What the recording depends on: the source (frames and prompt), the backbone and every
        option but the injection fraction, the recorder, and which steps are recorded; not the
        seed of the generated video, nor (single mode) the fraction of steps injected."""
        from evalkit.hashing import stable_hash

        steps = n_inject if self.record_mode() == "per-step" else n_inject > 0
        options = {k: v for k, v in self.options.items() if k != "injection_fraction"}
        return stable_hash("recording", self.version, type(self).recorder.__qualname__, self.inject_what,
                           options, case.source.fingerprint(), case.source_prompt, steps)

    def recording(self, case: MotionTransferCase, n_inject: int):
        """(source latents, recorded steps, sub-timings, store, cached): recorded once per
        recording key in this process and shared by every seed, sweep point and method that
        records alike (the latest ``RECORDINGS_KEPT`` are kept, on the device)."""
        from evalkit.generators.attention import FeatureStore

        key = self.recording_key(case, n_inject)
        if key in _RECORDINGS:
            _RECORDINGS.move_to_end(key)
            return (*_RECORDINGS[key], True)
        store = FeatureStore()
        source, recorded_at, detail = self.record(case, store, n_inject)
        _RECORDINGS[key] = (source, recorded_at, detail, store)
        while len(_RECORDINGS) > RECORDINGS_KEPT:
            _RECORDINGS.popitem(last=False)
        return source, recorded_at, detail, store, False

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        from evalkit.generators.attention import AttentionController, Inject

        timings: dict[str, float] = {}
        n_inject = self.num_injected_steps()
        with stage_timer(self.device, timings, "inversion"):
            source, recorded_at, detail, store, cached = self.recording(case, n_inject)
        behaviours = self.target_behaviours(store, n_inject)
        with stage_timer(self.device, timings, "inference"):
            frames = self.sample(case.target_prompt, seed, num_frames=source.num_frames, fps=source.fps,
                                 controller=AttentionController(behaviours), output_type=output_type)
        extras = {"backbone": self.spec.name, "seed": int(seed), "injection_fraction": self.fraction(),
                  "injected_steps": n_inject, "recorded_at_steps": recorded_at,
                  "recorded_at_timesteps": self.timesteps_of(recorded_at, source),
                  "recorded_bytes": store.nbytes, "recorded_tensors": len(store),
                  "injections": sum(b.count for b in behaviours if isinstance(b, Inject)),
                  "source_frames": source.num_frames, "source_frame_repeat": self.frame_repeat(),
                  "backbone_settings": self.settings().source, "recording_detail_s": detail,
                  "recording_cached": cached}
        return Run(frames, timings, source.fps, extras)


@GENERATORS.register("mbq")
class MotionByQueries(FeatureInjection):
    """Motion by Queries: Q-injection motion transfer."""
