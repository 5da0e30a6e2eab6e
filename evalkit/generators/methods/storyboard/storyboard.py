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
Choices where the paper is silent are options, named in docs/generators.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.cases import MultiShotCase
from evalkit.errors import EvalkitError
from evalkit.generators.diffusers_t2v import COMMON_DEFAULTS, SHOT_SEEDS, DiffusersT2V, Run
from evalkit.generators.loading import DTYPES
from evalkit.generators.peak_memory import stage_timer
from evalkit.registry import GENERATORS

from evalkit.generators.settings import PaperSettings, parse_blocks

Q_MODES = ("preserve+flow", "preserve", "none")
#: U-Net decoder layer paths: diffusers' ``up_blocks``, lvdm's (VideoCrafter2) ``output_blocks``
DECODER_PREFIXES = ("up_blocks.", "output_blocks.")


@dataclass(frozen=True)
class StoryboardSettings:
    """Per-backbone settings of Video Storyboarding (App. B.14)."""
    sdsa_frames: str       # "matching" | "matching+middle" | "all"
    sdsa_layers: str       # "up" (decoder self-attention, ConsiStory's extend_kv_unet_parts) | "all"
    source: str


PAPER_SETTINGS: dict[str, StoryboardSettings] = {
    "videocrafter2": StoryboardSettings("matching", "up", "App. B.14 (VideoCrafter2)"),
    # "we adapt our Framewise-SDSA by allowing each frame to attend to both its temporally matching
    # frames across shots and the middle frame of each shot" (App. B.14)
    "t2v-turbo-v2": StoryboardSettings("matching+middle", "up", "App. B.14 (T2V-Turbo-V2: + middle frame)"),
}
ARCHITECTURE_SETTINGS: dict[str, StoryboardSettings] = {
    "unet": StoryboardSettings("matching", "up", "App. B.14: VideoCrafter2's U-Net settings"),
    "dit": StoryboardSettings("matching", "all", "not in the paper: framewise SDSA in every DiT block"),
}


SETTINGS = PaperSettings(PAPER_SETTINGS, ARCHITECTURE_SETTINGS)


def parse_window(value, name: str) -> tuple[float, float]:
    """``[lo, hi]`` or ``"lo-hi"`` (timesteps, inclusive) -> (lo, hi)."""
    parts = value.split("-") if isinstance(value, str) else list(value)
    try:
        lo, hi = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise EvalkitError(f"option {name}={value!r}: expected two timesteps, e.g. [550, 950] or '550-950'") from None
    if lo > hi:
        raise EvalkitError(f"option {name}={value!r}: the first timestep must be the lower one")
    return lo, hi


@GENERATORS.register("storyboard")
class Storyboard(DiffusersT2V):
    """Video Storyboarding on a diffusers backbone (paper backbone: VideoCrafter2)."""
    case_kinds: ClassVar[tuple[str, ...]] = ("multi-shot",)
    # t windows are [lo, hi] or "lo-hi": checked by parse_window
    types: ClassVar[dict[str, type]] = {**DiffusersT2V.types, "sdsa_t": object, "refine_t": object}
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS,
        "shot_seeds": "batch",
        "anchors": 2,                    # App. B.14: two anchor shots share with each other
        "q_mode": "preserve+flow",
        "t_pres": 750,                   # App. B.14: Q preservation for t >= 750, Q flow below
        "sdsa_t": [550, 950],            # App. B.14 (or "550-950")
        "refine": True,
        "refine_t": [590, 950],          # App. B.14
        "refine_alpha": 0.8,             # ConsiStory's feature-injection blend (its public code)
        "refine_passes": "both",         # App. B.4: both CFG passes (ConsiStory: cond only)
        "sdsa_frames": "auto",           # auto: the backbone's setting (T2V-Turbo-V2: + middle frame)
        "sdsa_layers": "auto",           # auto: U-Net decoder layers ("up"), DiT all blocks
        "sdsa_dropout": 0.0,             # App. B.7: no SDSA dropout in videos
        "sdsa_passes": "both",           # ConsiStory extends both CFG passes
        "q_blocks": "all",               # self-attention layers whose Q is preserved / flowed
        "q_passes": "both",              # as ConsiStory's vanilla-query injection (whole batch)
        "q_dropout": 0.0,                # App. B.13
        "key_frame_stride": 4,           # Q flow key frames (the paper gives none)
        "mask_source": "previous-step",  # x̂0 of the step before (or: the vanilla pass at the same step)
        "dift_timestep": 261,            # ConsiStory's DIFT step
        "dift_module": "auto",           # U-Net up_blocks.1; DiT the middle block
        "q_cache": "device",             # where the vanilla Q cache lives: "device" or "cpu"
    }
    choices: ClassVar[dict[str, tuple]] = {
        "dtype": DTYPES, "shot_seeds": SHOT_SEEDS, "q_mode": Q_MODES, "refine": (True, False),
        "sdsa_frames": ("auto", "matching", "matching+middle", "all"), "sdsa_layers": ("auto", "up", "all"),
        "sdsa_passes": ("cond", "both"), "q_passes": ("cond", "both"), "refine_passes": ("cond", "both"),
        "mask_source": ("previous-step", "vanilla"), "q_cache": ("device", "cpu")}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        self._segmenter = None
        self.sdsa_window = parse_window(self.options["sdsa_t"], "sdsa_t")
        self.refine_window = parse_window(self.options["refine_t"], "refine_t")
        if int(self.options["anchors"]) < 1:
            raise EvalkitError(f"{self.registry_name}: anchors={self.options['anchors']} must be >= 1")

    def load(self) -> None:
        super().load()
        if self._segmenter is None:  # CLIPSeg for the subject masks: part of the load stage
            from evalkit.features.base import load_backend

            self._segmenter = load_backend("clipseg-rd64", device=self.device)

    # -- resolved settings ---------------------------------------------------------------
    def settings(self) -> StoryboardSettings:
        return SETTINGS.for_backbone(self.spec.name)

    def setting(self, name: str) -> str:
        value = self.options[name]
        return getattr(self.settings(), name) if value == "auto" else value

    def layout(self, shots: int, num_frames: int):
        from evalkit.generators.attention.frames import FrameLayout

        family = self.family
        if family.architecture == "unet":
            return FrameLayout(shots, num_frames, frames_in_rows=True)
        factor = family.temporal_factor()
        if (num_frames - 1) % factor:
            raise EvalkitError(f"{self.registry_name}: num_frames={num_frames} must be k·{factor}+1 "
                               f"on {self.spec.name}")
        return FrameLayout(shots, (num_frames - 1) // factor + 1, frames_in_rows=False)

    def layer_sets(self) -> dict[str, Any]:
        from evalkit.generators.attention import block_filter, self_attention_layers

        names = self_attention_layers(self.family.denoiser, type(self.family))
        decoder = [n for n in names if n.startswith(DECODER_PREFIXES)]
        sdsa = names if self.setting("sdsa_layers") == "all" else decoder
        if not sdsa:
            raise EvalkitError(f"{self.registry_name}: no decoder ({'/'.join(DECODER_PREFIXES)}) self-attention "
                               f"layers on {self.spec.name}; use sdsa_layers=all")
        return {"names": names, "sdsa": set(sdsa).__contains__,
                "q": block_filter(names, parse_blocks(self.options["q_blocks"]))}

    def windows(self) -> dict[str, Any]:
        """Denoising step indices of each phase, from the schedule's timesteps (t in [0, 1000])."""
        ts = [float(t) for t in self.family.schedule(int(self.opt("steps"))).timesteps]
        pres = float(self.options["t_pres"]) if self.options["q_mode"] == "preserve+flow" else float("-inf")
        none = self.options["q_mode"] == "none"
        (slo, shi), (rlo, rhi) = self.sdsa_window, self.refine_window
        return {"timesteps": ts,
                "pres": set() if none else {i for i, t in enumerate(ts) if t >= pres},
                "flow": set() if none else {i for i, t in enumerate(ts) if t < pres},
                "sdsa": {i for i, t in enumerate(ts) if slo <= t <= shi},
                "refine": {i for i, t in enumerate(ts) if rlo <= t <= rhi} if self.options["refine"] else set(),
                "dift": min(range(len(ts)), key=lambda i: abs(ts[i] - float(self.options["dift_timestep"])))}

    # -- the method ----------------------------------------------------------------------
    def run(self, case: MultiShotCase, seed: int, output_type: str = "np") -> Run:
        from evalkit.generators.attention import FeatureStore

        self.load()
        shots, frames_n = len(case.prompts), int(self.opt("num_frames"))
        ctx = _Passes(self, case, seed, self.layout(shots, frames_n), frames_n)
        timings: dict[str, float] = {}
        detail: dict[str, float] = {}
        store = FeatureStore()
        with stage_timer(self.device, timings, "inversion"):
            if ctx.w["pres"] or ctx.w["flow"] or self.options["mask_source"] == "vanilla":
                with stage_timer(self.device, detail, "vanilla_pass"):
                    ctx.vanilla(store)
            matches = None
            if self.options["refine"] and shots > 1:
                with stage_timer(self.device, detail, "dift_pass"):
                    matches = ctx.dift_pass(store)
        with stage_timer(self.device, timings, "inference"):
            frames = ctx.consistent(store, matches, output_type)
        extras = {"backbone": self.spec.name, "seed": int(seed), "shots": shots, "anchors": list(ctx.anchors),
                  "shot_seeds": self.options["shot_seeds"], "q_mode": self.options["q_mode"],
                  "steps": {k: sorted(v) for k, v in ctx.w.items() if isinstance(v, set)},
                  "dift_step": ctx.w["dift"], "sdsa_frames": self.setting("sdsa_frames"),
                  "settings": self.settings().source, "q_cache_bytes": store.nbytes, "passes_s": detail,
                  **ctx.counts, **ctx.mask_stats()}
        return Run(frames, timings, self.spec.fps, extras)


class _Passes:
    """The passes of one set: shared noise, windows, layers and masks."""

    def __init__(self, gen: Storyboard, case: MultiShotCase, seed: int, layout, frames_n: int) -> None:
        self.gen, self.case, self.seed, self.layout, self.frames_n = gen, case, seed, layout, frames_n
        self.shots = len(case.prompts)
        self.anchors = tuple(range(min(int(gen.options["anchors"]), self.shots)))
        self.w = gen.windows()
        self.layers = gen.layer_sets()
        self.latents = gen.shot_latents(self.shots, seed, frames_n)
        self.cache = "cpu" if gen.options["q_cache"] == "cpu" else None
        self.counts: dict[str, int] = {}
        self.vanilla_masks = None
        self._masks: list = []

    def _sample(self, controller, output_type: str = "latent", hooks=()):
        g = self.gen
        return g.sample(self.case.prompts, self.seed, num_frames=self.frames_n, fps=g.spec.fps, controller=controller,
                        output_type=output_type, latents=self.latents, hooks=hooks)

    def _masks_hook(self, steps: set, lag: int, dift: bool):
        """A subject-mask tracker and a maker of the x̂0 hook that feeds it during a pass driven by a
        given controller (masks for step s from x̂0 of step s - lag)."""
        from evalkit.generators.x0 import X0Hook, decode_frames

        from .subject_masks import SubjectMasks

        g = self.gen
        masks = SubjectMasks(g._segmenter, self.case.subject, lambda x0: decode_frames(g.family, x0))
        self._masks.append(masks)
        dift_step = self.w["dift"]

        def on_x0(step: int, x0) -> None:
            if step + lag in steps:
                masks.update(step + lag, x0)
            if dift and step == dift_step:
                masks.update("dift", x0)

        sched = g.family.schedule(int(g.opt("steps")))
        return masks, lambda ctrl: X0Hook(g.family.denoiser, sched, g.cfg, g.guidance, on_x0, lambda: ctrl.step)

    def vanilla(self, store) -> None:
        from evalkit.generators.attention import AttentionController
        from evalkit.generators.attention.q_preserve import RecordAt

        from .q_flow import FlowRecord

        o = self.gen.options
        record = [RecordAt(store=store, what=("q",), layers=self.layers["q"], passes=o["q_passes"],
                           active=self.w["pres"].__contains__, device=self.cache),
                  FlowRecord(store=store, layout=self.layout, key_frame_stride=int(o["key_frame_stride"]),
                             layers=self.layers["q"], passes=o["q_passes"], active=self.w["flow"].__contains__,
                             device=self.cache)]
        ctrl, hooks = AttentionController(record), []
        if o["mask_source"] == "vanilla":
            self.vanilla_masks, hook = self._masks_hook(self.w["sdsa"], 0, dift=True)
            hooks.append(hook(ctrl))
        self._sample(ctrl, hooks=hooks)

    def behaviours(self, store, masks) -> list:
        import torch

        from evalkit.generators.attention.q_preserve import PreserveQ
        from evalkit.generators.attention.sdsa import FramewiseSDSA

        from .q_flow import QFlow

        o, device = self.gen.options, self.gen.device
        draws = torch.Generator().manual_seed(int(self.seed))   # the same dropout draws in every pass
        frames = self.layout.frames

        def token_masks(step: int, per_frame: int):
            return masks.tokens(step, frames, per_frame, device)

        return [PreserveQ(store=store, what=("q",), layers=self.layers["q"], passes=o["q_passes"],
                          active=self.w["pres"].__contains__, dropout=float(o["q_dropout"]), generator=draws),
                QFlow(store=store, layout=self.layout, key_frame_stride=int(o["key_frame_stride"]),
                      layers=self.layers["q"], passes=o["q_passes"], active=self.w["flow"].__contains__,
                      dropout=float(o["q_dropout"]), generator=draws),
                FramewiseSDSA(layout=self.layout, anchors=self.anchors, masks=token_masks,
                              frames=self.gen.setting("sdsa_frames"), layers=self.layers["sdsa"],
                              passes=o["sdsa_passes"], active=self.w["sdsa"].__contains__,
                              dropout=float(o["sdsa_dropout"]), generator=draws)]

    def _consistent_pass(self, store, *, dift: bool, refine=None, output_type: str = "latent"):
        from evalkit.generators.attention import AttentionController

        hook = None
        if self.vanilla_masks is not None:
            masks = self.vanilla_masks
        else:
            masks, hook = self._masks_hook(self.w["sdsa"], 1, dift=dift)
        ctrl = AttentionController(self.behaviours(store, masks))
        hooks = [hook(ctrl)] if hook is not None and self.shots > 1 else []   # one shot: no masks needed
        extra = [f(ctrl) for f in (refine, self._dift_capture if dift else None) if f is not None]
        out = self._sample(ctrl, output_type, hooks + extra)
        names = ("q_preserved", "q_flowed", "sdsa_calls")
        for name, b in zip(names, ctrl.behaviours):
            self.counts[name] = int(b.count)
        return out, masks, extra

    def _dift_capture(self, ctrl):
        from .dift import DiftCapture, default_dift_module

        g, module = self.gen, self.gen.options["dift_module"]
        if module == "auto":
            module = default_dift_module(g.family.denoiser, g.family.architecture, self.layers["names"])
        self.dift = DiftCapture(g.family.denoiser, module, self.layout, g.cfg, self.w["dift"], lambda: ctrl.step)
        return self.dift

    def dift_pass(self, store):
        """Pass 2: the consistent generation without refinement; DIFT matches for pass 3."""
        from .refine import anchor_matches

        _, masks, _ = self._consistent_pass(store, dift=True)
        feats = self.dift.features
        if feats is None:
            raise EvalkitError(f"{self.gen.registry_name}: no DIFT features were captured at step {self.w['dift']}")
        subject = masks.tokens("dift", feats.shape[1], feats.shape[2], feats.device)
        if subject is None:
            raise EvalkitError(f"{self.gen.registry_name}: no subject masks at the DIFT step {self.w['dift']}")
        return anchor_matches(feats, subject, self.anchors)

    def consistent(self, store, matches, output_type: str):
        """The final pass (with refinement injection when ``matches`` are given)."""
        from .refine import RefinementInjection

        refine = None
        if matches is not None:
            def refine(ctrl):
                return RefinementInjection(self.gen.family.denoiser, self.layers["names"], self.layout, *matches,
                                           alpha=float(self.gen.options["refine_alpha"]),
                                           active=self.w["refine"].__contains__, step=lambda: ctrl.step,
                                           cfg=self.gen.cfg, passes=self.gen.options["refine_passes"])
        out, _, extra = self._consistent_pass(store, dift=False, refine=refine, output_type=output_type)
        self.counts["refined_calls"] = int(extra[0].count) if extra else 0
        return out

    def mask_stats(self) -> dict[str, Any]:
        empty = sum(m.empty_frames for m in self._masks)
        reasons = [m.first_empty_reason for m in self._masks if m.first_empty_reason]
        fraction = sum(m.subject_fraction() for m in self._masks) / max(1, len(self._masks))
        return {"mask_subject_fraction": float(fraction),
                "mask_empty_frames": int(empty), "mask_empty_reason": reasons[0] if reasons else ""}


@GENERATORS.register("full-q-preservation")
class FullQPreservation(Storyboard):
    """Baseline of MbQ Fig. 7 ("Full Q Preservation"): vanilla Q at every step, no Q flow; SDSA and
    refinement injection as in Video Storyboarding."""
    defaults: ClassVar[dict[str, Any]] = {**Storyboard.defaults, "q_mode": "preserve"}
