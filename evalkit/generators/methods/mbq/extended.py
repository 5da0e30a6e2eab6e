"""Motion by Queries Fig. 3: Q injection into a batch of videos that share extended attention.

"We examine the effect of Q-injection when generating a batch of 3 videos at a time and using
shared Extended Attention between shots" (Sec. 3): extended attention induces a motion freeze,
so more injection steps are needed to match the source's motion, which leaks identity. Sweep
``injection_fraction`` (as for ``mbq``) and score Motion Fidelity for the curve.

The batch is ``batch_videos`` (3) videos of the case's target prompt from one noise draw of the
case seed; each attends to the others (all of them: no subject mask, no anchors), on both CFG
passes; the source's Q (recorded as by ``mbq``) is injected into every video. On the U-Net the
extension is framewise (spatial self-attention is per frame: a frame attends to the same frame
of the other videos); on a DiT each token attends to every video token of the others. The paper
does not say which video is scored: ``keep="first"`` returns the first (motion-transfer metrics
score one video per case), ``keep="all"`` all of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.cases import MotionTransferCase
from evalkit.errors import EvalkitError
from evalkit.generators.diffusers_t2v import Run
from evalkit.registry import GENERATORS
from evalkit.timing import stage_timer

from .mbq import FeatureInjection, InjectionSettings, MotionByQueries, injection_layers


@dataclass(frozen=True)
class ExtendedSettings(InjectionSettings):
    """:class:`InjectionSettings` plus the shared extended attention of the batch."""
    batch_videos: int                   # videos generated together (Sec. 3: 3)
    extended_frames: str                # "auto" (U-Net "matching", DiT "all"), "matching" or "all"
    extended_passes: str                # "cond" or "both"
    keep: str                           # "first" or "all" videos returned


def batch_behaviours(family, settings: ExtendedSettings, store, n_inject: int, num_frames: int) -> list:
    """Q injection into every video of the batch, then framewise SDSA among the videos."""
    from evalkit.generators.attention.frames import FrameLayout
    from evalkit.generators.attention.q_preserve import PreserveQ
    from evalkit.generators.attention.sdsa import FramewiseSDSA

    b, layers = settings.batch_videos, injection_layers(family, settings)
    unet = family.architecture == "unet"
    frames = num_frames if unet else (num_frames - 1) // family.temporal_factor() + 1
    mode = settings.extended_frames
    return [PreserveQ(store=store, what=settings.what, key=settings.record_key, layers=layers,
                      passes=settings.passes, active=lambda step: step < n_inject),
            FramewiseSDSA(layout=FrameLayout(b, frames, frames_in_rows=unet), anchors=tuple(range(b)),
                          frames=("matching" if unet else "all") if mode == "auto" else mode,
                          passes=settings.extended_passes)]


@GENERATORS.register("mbq-extended")
class ExtendedAttentionInjection(MotionByQueries):
    defaults: ClassVar[dict[str, Any]] = {
        **FeatureInjection.defaults,
        "batch_videos": 3,              # Sec. 3: "a batch of 3 videos at a time"
        "extended_frames": "auto",      # auto: U-Net "matching" (framewise), DiT "all"
        "extended_passes": "both",
        "keep": "first",
    }
    choices: ClassVar[dict[str, tuple]] = {
        **FeatureInjection.choices, "extended_frames": ("auto", "matching", "all"),
        "extended_passes": ("cond", "both"), "keep": ("first", "all")}

    def resolve_settings(self) -> ExtendedSettings:
        base = super().resolve_settings()
        b = int(self.options["batch_videos"])
        if b < 1:
            raise EvalkitError(f"{self.registry_name}: batch_videos={b} must be >= 1")
        return ExtendedSettings(**vars(base), batch_videos=b, extended_frames=self.options["extended_frames"],
                                extended_passes=self.options["extended_passes"], keep=self.options["keep"])

    def recorder(self, store):
        from evalkit.generators.attention.q_preserve import RecordAt

        s = self.settings
        return RecordAt(store=store, what=s.what, key=s.record_key, layers=injection_layers(self.family, s),
                        passes=s.passes)

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        from evalkit.generators.attention import AttentionController, FeatureStore

        s = self.settings
        assert isinstance(s, ExtendedSettings)   # resolve_settings below builds one
        timings: dict[str, float] = {}
        n_inject = s.injected_steps
        store = FeatureStore()
        with self.family.time_shift(s.scheduler_mu):
            with stage_timer(self.device, timings, "inversion"):
                source, recorded_at, detail = self.record(case, store, n_inject)
            behaviours = batch_behaviours(self.family, s, store, n_inject, source.num_frames)
            with stage_timer(self.device, timings, "inference"):
                frames = self.sample([case.target_prompt] * s.batch_videos, seed, num_frames=source.num_frames,
                                     fps=source.fps, controller=AttentionController(behaviours),
                                     output_type=output_type)
        extras = {"backbone": self.spec.name, "seed": int(seed), "injection_fraction": s.fraction,
                  "injected_steps": n_inject, "recorded_at_steps": recorded_at, "batch_videos": s.batch_videos,
                  "kept": s.keep, "injections": behaviours[0].count,
                  "extended_calls": behaviours[1].count, "source_frames": source.num_frames,
                  "source_frame_repeat": s.source_frame_repeat, "backbone_settings": s.source,
                  "recording_detail_s": detail}
        return Run(frames if s.keep == "all" else frames[:1], timings, source.fps, extras)
