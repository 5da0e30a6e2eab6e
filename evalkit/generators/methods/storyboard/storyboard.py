"""Video Storyboarding: consistent multi-shot generation (Motion by Queries Sec. 5, App. B).

One set of N shots is generated as one batch, in three denoising passes from the same initial
noise (App. B.14 "reproducible denoising"):

1. **vanilla** (stage ``inversion``): the shots without coupling; Q of every spatial self-attention
   layer is cached at the Q-preservation steps (t ∈ [T, t_pres], t_pres = 750) and, at the Q-flow
   steps (t < 750), only the nearest-neighbour matches of Eq. 2–3 between key frames;
2. **consistent** (stage ``inversion``): Q preservation, then Q flow (Eq. 4), then framewise SDSA
   (Eq. 1, t ∈ [550, 950]) with two anchor shots and subject masks from CLIPSeg on x̂0 + Otsu;
   DIFT features are taken at t = 261 for the refinement correspondences;
3. **consistent + refinement** (stage ``inference``): pass 2 plus refinement feature injection
   (App. B.4, t ∈ [590, 950], both CFG passes, layers at the DIFT resolution).

``q_mode`` selects the Q strategy, so the paper's ablations are configurations of one class:
``preserve+flow`` (Video Storyboarding), ``preserve`` (Full Q Preservation: vanilla Q at every step,
no flow) and ``none`` (no Q intervention: the video form of ConsiStory's SDSA, ``consistory``).
Choices where the paper is silent are options, named in docs/generators/storyboard.md. A generator
resolves its options once, at construction, into :class:`~.run_settings.StoryboardRunSettings` (``self.settings``);
the helpers (:mod:`.passes`: the phase windows, layer sets, frame layout and passes of a set) take
``(family, settings, ...)``.
"""
from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from evalkit.cases import MultiShotCase
from evalkit.generators.diffusers_t2v import COMMON_DEFAULTS, SHOT_SEEDS, DiffusersT2V, Run
from evalkit.generators.loading import DTYPES
from evalkit.registry import GENERATORS
from evalkit.timing import stage_timer

from .passes import SetPasses, set_layout
from .run_settings import Q_MODES, resolve_settings


@GENERATORS.register("storyboard")
class Storyboard(DiffusersT2V):
    """Video Storyboarding on a diffusers backbone (paper backbone: VideoCrafter2)."""
    case_kinds: ClassVar[tuple[str, ...]] = ("multi-shot",)
    #: subject masks decode x̂0 (family.decode): every family with a decoder
    families: ClassVar[tuple[str, ...]] = ("videocrafter2", "unet", "animatediff", "wan", "cogvideox")
    # t windows are [lo, hi] or "lo-hi": checked by parse_window
    types: ClassVar[dict[str, type]] = {**DiffusersT2V.types, "sdsa_t": object, "refine_t": object}
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS,
        "backbone": "videocrafter2",     # the paper's backbone (MbQ Sec. 5; issue 26: not wan2.1-1.3b)
        "shot_seeds": "batch",
        "anchors": 2,                    # App. B.14: two anchor shots share with each other
        "q_mode": "preserve+flow",
        "t_pres": 750,                   # App. B.14: Q preservation for t >= 750, Q flow below
        "sdsa_t": [550, 950],            # App. B.14 (or "550-950")
        "window_timesteps": "sampler",   # phase windows on the sampler's t ("paper": t = 1000·(1 − i/N))
        "refine": True,
        "refine_t": [590, 950],          # App. B.14
        "refine_alpha": 0.8,             # ConsiStory's feature-injection blend (its public code)
        "refine_passes": "both",         # App. B.4: both CFG passes (ConsiStory: cond only)
        "sdsa_frames": "auto",           # auto: the backbone's setting (T2V-Turbo-V2: + middle frame)
        "sdsa_layers": "auto",           # auto: U-Net decoder layers ("up"), DiT all blocks
        "sdsa_dropout": 0.0,             # App. B.7: no SDSA dropout in videos
        "sdsa_dropout_draw": "call",     # per attender and layer call; "step": ConsiStory's one draw per step
        "query_blend": "none",           # "consistory": ConsiStory's vanilla-query blend (0.9 -> 0.818)
        "sdsa_passes": "both",           # ConsiStory extends both CFG passes
        "q_blocks": "all",               # self-attention layers whose Q is preserved / flowed
        "q_passes": "both",              # as ConsiStory's vanilla-query injection (whole batch)
        "q_dropout": 0.0,                # App. B.13
        "key_frame_stride": 4,           # Q flow key frames (the paper gives none)
        "mask_source": "previous-step",  # x̂0 of the step before (or: the vanilla pass at the same step)
        "dift_timestep": 261,            # ConsiStory's DIFT step
        "dift_module": "auto",           # U-Net up_blocks.1; DiT the middle block
        "dift_smoothing": "none",        # "gaussian3": ConsiStory's 3×3 Gaussian (σ = 1) of the DIFT grid
        "refine_threshold": "none",      # "otsu": ConsiStory's Otsu threshold on the matches' distances
        "q_cache": "device",             # where the vanilla Q cache lives: "device" or "cpu"
    }
    choices: ClassVar[dict[str, tuple]] = {
        "dtype": DTYPES, "shot_seeds": SHOT_SEEDS, "q_mode": Q_MODES, "refine": (True, False),
        "sdsa_frames": ("auto", "matching", "matching+middle", "all"), "sdsa_layers": ("auto", "up", "all"),
        "sdsa_passes": ("cond", "both"), "q_passes": ("cond", "both"), "refine_passes": ("cond", "both"),
        "mask_source": ("previous-step", "vanilla"), "q_cache": ("device", "cpu"),
        "window_timesteps": ("sampler", "paper"), "sdsa_dropout_draw": ("call", "step"),
        "query_blend": ("none", "consistory"),
        "dift_smoothing": ("none", "gaussian3"), "refine_threshold": ("none", "otsu")}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        self._segmenter = None
        self.settings = resolve_settings(self.registry_name, self.spec.name, self.options, int(self.opt("steps")),
                                         int(self.opt("num_frames")), int(self.opt("height")), int(self.opt("width")))

    def load(self) -> None:
        super().load()
        if self._segmenter is None:  # CLIPSeg for the subject masks: part of the load stage
            from evalkit.features.base import load_backend

            self._segmenter = load_backend("clipseg-rd64", device=self.device)

    # -- the method ----------------------------------------------------------------------
    def run(self, case: MultiShotCase, seed: int, output_type: str = "np") -> Run:
        from evalkit.generators.attention import FeatureStore

        self.load()
        s, family = self.settings, self.family
        shots, frames_n = len(case.prompts), s.num_frames
        sample = partial(self.sample, case.prompts, seed, num_frames=frames_n, fps=self.spec.fps,
                         latents=self.shot_latents(shots, seed, frames_n))
        ctx = SetPasses(family, s, sample=sample, segmenter=self._segmenter, subject=case.subject, shots=shots,
                        seed=seed, layout=set_layout(family, s, shots, frames_n), cfg=self.cfg,
                        guidance=self.guidance)
        timings: dict[str, float] = {}
        detail: dict[str, float] = {}
        store = FeatureStore()
        with stage_timer(self.device, timings, "inversion"):
            if ctx.w["pres"] or ctx.w["flow"] or ctx.w.get("blend") or s.mask_source == "vanilla":
                with stage_timer(self.device, detail, "vanilla_pass"):
                    ctx.vanilla(store)
            matches = None
            if s.refine and shots > 1:
                with stage_timer(self.device, detail, "dift_pass"):
                    matches = ctx.dift_pass(store)
        with stage_timer(self.device, timings, "inference"):
            frames = ctx.consistent(store, matches, output_type)
        extras = {"backbone": self.spec.name, "seed": int(seed), "shots": shots, "anchors": list(ctx.anchors),
                  "shot_seeds": s.shot_seeds, "q_mode": s.q_mode,
                  "steps": {k: sorted(v) for k, v in ctx.w.items() if isinstance(v, set)},
                  "dift_step": ctx.w["dift"], "sdsa_frames": s.sdsa_frames,
                  "settings": s.source, "q_cache_bytes": store.nbytes, "passes_s": detail,
                  **ctx.counts, **ctx.mask_stats()}
        return Run(frames, timings, self.spec.fps, extras)


@GENERATORS.register("full-q-preservation")
class FullQPreservation(Storyboard):
    """Baseline of MbQ Fig. 7 ("Full Q Preservation"): vanilla Q at every step, no Q flow; SDSA and
    refinement injection as in Video Storyboarding."""
    defaults: ClassVar[dict[str, Any]] = {**Storyboard.defaults, "q_mode": "preserve"}
