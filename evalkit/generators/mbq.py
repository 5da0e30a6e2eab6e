"""Motion by Queries (MbQ): record Q of the source video's self-attention, inject it into the target.

Paper Sec. 3–4 and App. A.1:
- record and inject only the conditional pass;
- U-Net (``per-step``): noise the source latent to each of the first k steps of the 50-step
  schedule (t = 1000 … 600 for k = 40 %), same noise for every level, one denoising step each,
  after a two-step re-noise/denoise consistency pass (Meiri et al.); inject Q_S(t) at step t;
- DiT (``single``, Wan 2.1): Q from one low-noise step, injected at every step of the first
  58–60 % of the schedule, blocks 20–30 only.
The paper does not give Wan's recording step: ``record_step_fraction`` (default 0.9, i.e. step 45
of 50) is our choice. ``injection_fraction`` sweeps reproduce the analysis of Sec. 3 (Fig. 2);
:func:`injection_sweep` expands one generator config over fractions.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Iterable

from ..cases import MotionTransferCase
from ..errors import EvalkitError
from ..registry import GENERATORS
from .diffusers_t2v import COMMON_DEFAULTS, BACKBONES, DTYPES, DiffusersT2V, stage_timer

#: Fig. 2 x-axes: 0–40 % of the steps for the U-Net (VideoCrafter2), 0–60 % for Wan
SWEEP_FRACTIONS = {"unet": (0.0, 0.1, 0.2, 0.3, 0.4), "dit": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)}


def injection_sweep(config: dict[str, Any], fractions: Iterable[float] | None = None) -> list[dict[str, Any]]:
    """One generator config per injection fraction (Sec. 3 analysis; run each on same- and
    different-subject cases and score Motion Fidelity and Identity Leakage per fraction)."""
    if fractions is None:
        spec = BACKBONES.get(config.get("backbone", COMMON_DEFAULTS["backbone"]))
        fractions = SWEEP_FRACTIONS["unet" if spec is not None and spec.family == "unet" else "dit"]
    out = []
    for f in fractions:
        if not 0.0 <= float(f) <= 1.0:
            raise EvalkitError(f"injection_sweep: fraction {f} outside [0, 1]")
        out.append({**config, "injection_fraction": float(f)})
    return out


class FeatureInjection(DiffusersT2V):
    """Record attention features of the source, inject them into the target generation."""
    inject_what: ClassVar[tuple[str, ...]] = ("q",)
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS,
        "injection_fraction": None,     # None: backbone default (paper)
        "blocks": None,                 # None: backbone default; "all" or a list of indices
        "record": "auto",               # auto: backbone default ("single" DiT, "per-step" U-Net)
        "record_step_fraction": 0.9,    # single mode: record at this fraction of the schedule
        "passes": "cond",               # App. A.1: conditional pass only
        "record_prompt": "source",      # prompt of the recording pass: the case's source prompt or ""
        "record_seed": 0,               # seed of the recording noise (same for all levels)
    }
    choices: ClassVar[dict[str, tuple]] = {
        "backbone": tuple(BACKBONES), "dtype": DTYPES, "record": ("auto", "single", "per-step"),
        "passes": ("cond", "both"), "record_prompt": ("source", "empty")}

    # -- resolved options --------------------------------------------------------------
    def fraction(self) -> float:
        f = self.options["injection_fraction"]
        f = self.spec.mbq_fraction if f is None else float(f)
        if not 0.0 <= f <= 1.0:
            raise EvalkitError(f"{self.registry_name}: injection_fraction={f} outside [0, 1]")
        return f

    def record_mode(self) -> str:
        mode = self.options["record"]
        return self.spec.mbq_record if mode == "auto" else mode

    def default_blocks(self):
        return self.spec.mbq_blocks

    def blocks(self):
        b = self.options["blocks"]
        if b is None:
            return self.default_blocks()
        if b == "all":
            return None
        if isinstance(b, str):  # "20-29" or "1,3"
            parts = []
            for piece in b.split(","):
                lo, _, hi = piece.partition("-")
                parts.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
            return tuple(parts)
        return tuple(int(x) for x in b)

    def num_injected_steps(self) -> int:
        # "the first k steps": k = fraction × steps, rounded to the nearest step
        return int(math.floor(self.fraction() * int(self.opt("steps")) + 0.5))

    # -- the method --------------------------------------------------------------------
    def make_controller(self):
        from .attention import AttentionController, block_filter, self_attention_layers

        names = self_attention_layers(self._denoiser(), self.spec.family)
        return AttentionController(
            layers=block_filter(names, self.blocks()), what=self.inject_what, passes=self.options["passes"])

    def _denoiser(self):
        from .diffusers_t2v import denoiser

        return denoiser(self.pipe)

    def record(self, case: MotionTransferCase, ctrl, n_inject: int):
        """Fill ``ctrl.store`` from the source video; returns (frames count, fps)."""
        import torch

        from .attention import controlled

        frames, fps = self.source_frames(case)
        self._fps_for_ltx = fps
        detail: dict[str, float] = {}
        self.record_detail = detail
        with stage_timer(self.device, detail, "vae_encode"):
            x0 = self.encode_video(frames)
        prompt = case.source_prompt if self.options["record_prompt"] == "source" else ""
        emb = self.embed(prompt)
        noise_gen = torch.Generator(device="cpu").manual_seed(int(self.options["record_seed"]))
        with controlled(self._denoiser(), self.spec.family, ctrl):
            ctrl.mode = "off"
            x0 = self.consistency_pass(x0, emb, noise_gen, len(frames))
            noise = torch.randn(x0.shape, generator=noise_gen, device="cpu").to(x0)
            sched = self.schedule(seq_len=x0.shape[1] if self.spec.family == "ltx" else None)
            steps = len(sched.timesteps)
            if self.record_mode() == "per-step":
                indices = list(range(n_inject))
            else:
                indices = [min(steps - 1, int(self.options["record_step_fraction"] * steps))] if n_inject else []
            ctrl.mode = "record"
            with stage_timer(self.device, detail, "record_passes"):
                for i in indices:
                    ctrl.key = i if self.record_mode() == "per-step" else "single"
                    ctrl.reset(i)
                    self.denoise_once(self.noise_to(sched, x0, noise, i), sched.timesteps[i], emb, len(frames))
        ctrl.mode = "off"
        return len(frames), fps, indices

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np"):
        timings: dict[str, float] = {}
        n_inject = self.num_injected_steps()
        ctrl = self.make_controller()
        with stage_timer(self.device, timings, "inversion"):
            num_frames, fps, recorded_at = self.record(case, ctrl, n_inject)
        per_step = self.record_mode() == "per-step"
        ctrl.mode = "inject"
        ctrl.active = lambda step: step < n_inject
        ctrl.key_for_step = (lambda step: step) if per_step else (lambda step: "single")
        with stage_timer(self.device, timings, "inference"):
            frames = self.sample(case.target_prompt, seed, num_frames=num_frames, controller=ctrl,
                                 output_type=output_type)
        extras = {"backbone": self.spec.name, "seed": int(seed), "injection_fraction": self.fraction(),
                  "injected_steps": n_inject, "recorded_at_steps": recorded_at,
                  "recorded_bytes": ctrl.stored_bytes(), "recorded_tensors": len(ctrl.store),
                  "injections": sum(1 for e in ctrl.events if e[2] == "inject"),
                  "recording_detail_s": dict(self.record_detail)}
        self.last_controller = ctrl  # for tests and diagnostics
        return frames, timings, fps, extras


@GENERATORS.register("mbq")
class MotionByQueries(FeatureInjection):
    """Motion by Queries: Q-injection motion transfer."""
