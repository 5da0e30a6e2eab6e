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

from typing import Any, ClassVar

from evalkit.cases import MotionTransferCase
from evalkit.errors import EvalkitError
from evalkit.generators.diffusers_t2v import Run
from evalkit.generators.peak_memory import stage_timer
from evalkit.registry import GENERATORS

from .mbq import FeatureInjection, MotionByQueries


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

    def recorder(self, store):
        from evalkit.generators.attention.q_preserve import RecordAt

        return RecordAt(store=store, what=self.inject_what, key=self.record_key(), layers=self.layers(),
                        passes=self.options["passes"])

    def batch_behaviours(self, store, n_inject: int, num_frames: int) -> list:
        from evalkit.generators.attention.frames import FrameLayout
        from evalkit.generators.attention.q_preserve import PreserveQ
        from evalkit.generators.attention.sdsa import FramewiseSDSA

        b, family = int(self.options["batch_videos"]), self.family
        if b < 1:
            raise EvalkitError(f"{self.registry_name}: batch_videos={b} must be >= 1")
        unet = family.architecture == "unet"
        frames = num_frames if unet else (num_frames - 1) // family.temporal_factor() + 1
        mode = self.options["extended_frames"]
        return [PreserveQ(store=store, what=self.inject_what, key=self.record_key(), layers=self.layers(),
                          passes=self.options["passes"], active=lambda step: step < n_inject),
                FramewiseSDSA(layout=FrameLayout(b, frames, frames_in_rows=unet), anchors=tuple(range(b)),
                              frames=("matching" if unet else "all") if mode == "auto" else mode,
                              passes=self.options["extended_passes"])]

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        from evalkit.generators.attention import AttentionController, FeatureStore

        timings: dict[str, float] = {}
        n_inject = self.num_injected_steps()
        store = FeatureStore()
        with stage_timer(self.device, timings, "inversion"):
            source, recorded_at, detail = self.record(case, store, n_inject)
        behaviours = self.batch_behaviours(store, n_inject, source.num_frames)
        b = int(self.options["batch_videos"])
        with stage_timer(self.device, timings, "inference"):
            frames = self.sample([case.target_prompt] * b, seed, num_frames=source.num_frames, fps=source.fps,
                                 controller=AttentionController(behaviours), output_type=output_type)
        extras = {"backbone": self.spec.name, "seed": int(seed), "injection_fraction": self.fraction(),
                  "injected_steps": n_inject, "recorded_at_steps": recorded_at, "batch_videos": b,
                  "kept": self.options["keep"], "injections": behaviours[0].count,
                  "extended_calls": behaviours[1].count, "source_frames": source.num_frames,
                  "source_frame_repeat": self.frame_repeat(), "backbone_settings": self.settings().source,
                  "recording_detail_s": detail}
        return Run(frames if self.options["keep"] == "all" else frames[:1], timings, source.fps, extras)
