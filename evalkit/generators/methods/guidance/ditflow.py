"""DiTFlow (Pondaven et al., CVPR 2025): Attention Motion Flow guidance on DiTs.

Sec. 4: the reference's AMF (argmax displacements of cross-frame attention, Q and K of one block
averaged over heads, temperature τ) from one pass of the clean latent at t = 0 with the empty
prompt; at each of the first 20 % of the 50 steps, 5 Adam steps (lr 0.002 → 0.001) lower the L2
distance between the reference AMF and the generation's soft AMF at block 20 (CogVideoX-5B) / 15
(2B), on z_t or on the positional embedding ρ; KV injection in the first block (Sec. 5.1). The
engine (``evalkit.generators.methods.guidance``) does everything but the AMF; choices where the paper is
silent or its release differs are in docs/generators/guidance.md ("DiTFlow").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.registry import GENERATORS

from .amf import HEAD_AVERAGES, LOSS_MASKS, amf_loss, attention_motion_flow
from .base import GuidedTransfer
from .features import token_grid
from .passes import FeaturePass, heads_first
from .settings import GuidanceSettings


@dataclass(frozen=True)
class DiTFlowSettings(GuidanceSettings):
    temperature: float
    head_average: str
    loss_mask: str


@GENERATORS.register("ditflow")
class DiTFlow(GuidedTransfer):
    defaults: ClassVar[dict[str, Any]] = {
        **GuidedTransfer.defaults,
        "temperature": 2.0,        # τ (Sec. 5.1; App. B: 5 is marginally better)
        # the release (ditflow/ditflow@4db379b) as option values; docs/generators/guidance.md, issue 26:
        "head_average": "qk",      # qk: the paper's head-averaged Q, K; logits: the release's averaged Q_h K_hᵀ
        #                            (guidance_utils/motion_flow_utils.py:38)
        "loss_mask": "all",        # all: Eq. 8; moving: the release's loss on moving reference patches only
        #                            (configs/guidance_config.yaml:17 threshloss, motion_guidance.py:398)
        # lr_schedule=ditflow-code (motion_guidance.py:224), negative_prompt=release (:759), guidance_scale=7
    }
    choices: ClassVar[dict[str, tuple]] = {**GuidedTransfer.choices, "head_average": HEAD_AVERAGES,
                                           "loss_mask": LOSS_MASKS}
    bounds: ClassVar[dict[str, tuple]] = {**GuidedTransfer.bounds, "temperature": (0.0, None)}
    settings_class: ClassVar[type[GuidanceSettings]] = DiTFlowSettings
    #: the release's default (ditflow/ditflow@4db379b, motion_guidance.py:759, ``--negative_prompt``)
    RELEASE_NEGATIVE_PROMPT = "bad quality, distortions, unrealistic, distorted image, watermark, signature"

    def feature_pass(self) -> FeaturePass:
        blocks = self.blocks()
        return FeaturePass(self.family, attention_layers=self.layers_at(blocks), what=("q", "k"),
                           stop_module=self.stop_module(blocks))

    def flows(self, feats: dict, *, hard: bool) -> list:
        """The AMF of every guidance layer."""
        out = []
        for layer in self.guidance_layers():
            q, k = heads_first(feats[(layer, "q")]), heads_first(feats[(layer, "k")])
            frames, h, w = token_grid(q.shape[1], self.latent_grid)
            out.append(attention_motion_flow(q, k, frames=frames, grid=(h, w),
                                             temperature=float(self.settings.temperature), hard=hard,
                                             head_average=self.settings.head_average,
                                             window=self.amf_window()))
        return out

    def amf_window(self) -> int:
        """The local attention window of the AMF in patches (FastVMT); 0: none (DiTFlow)."""
        return 0

    def reference_target(self, feats: dict) -> Any:
        return self.flows(feats, hard=True)

    def loss(self, target: Any, feats: dict):
        # the mean over guidance layers (the release's multi-block setting, App. B Table 3b)
        losses = [amf_loss(ref, gen, self.settings.loss_mask)
                  for ref, gen in zip(target, self.flows(feats, hard=False))]
        return sum(losses) / len(losses)
