"""SMM: the spatial marginal mean loss of Diffusion Motion Transfer (Yatim et al., CVPR 2024) on a
DiT, as DiTFlow's Table 1 runs it (Sec. 5.1): DDIM inversion replaced by KV injection, features of
the guidance block from one reference pass at t = 0, DiTFlow's optimiser and schedule.

SMM(f) is the spatial mean of the features, one vector per frame; the loss compares the
differences between every frame and each anchor frame:
L = mean_anchors (1 − mean_frames cos(SMM_gen[t] − SMM_gen[a], SMM_ref[t] − SMM_ref[a])) (DMT's
``features_diff_loss``, option ``smm_loss="dmt"``, the default). DiTFlow's release takes the
reference's anchor for the generation too and the cosine over frames (``smm_loss="ditflow-release"``,
:func:`smm_loss_ditflow_release`); we read these as slips, so they are not the default.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.registry import GENERATORS

from .block_features import BlockFeatureGuidance
from .settings import GuidanceSettings

SMM_LOSSES = ("dmt", "ditflow-release")


def spatial_marginal_mean(features):
    """[frames, channels, h, w] -> [frames, channels]."""
    return features.mean(dim=(-1, -2))


def smm_loss(reference_smm, generated_smm):
    """DMT's anchor-difference cosine loss between two [frames, channels] SMMs."""
    import torch.nn.functional as F

    gen = generated_smm[None] - generated_smm[:, None]      # [anchor, frame, channels]
    ref = reference_smm[None] - reference_smm[:, None]
    return 1.0 - F.cosine_similarity(gen, ref.to(gen.dtype), dim=-1).mean()


def smm_loss_ditflow_release(reference_smm, generated_smm):
    """DiTFlow's release (ditflow/ditflow@4db379b, motion_guidance.py:476-482, ``compute_SMM``):
    for every anchor frame a, 1 − the mean over channels of the cosine *over frames* between
    SMM_gen − SMM_ref[a] and SMM_ref − SMM_ref[a] (the reference's anchor on both sides),
    averaged over the anchors."""
    import torch.nn.functional as F

    ref = reference_smm.to(generated_smm.dtype)
    gen = generated_smm[None] - ref[:, None]                # [anchor, frame, channels]
    ref_diffs = ref[None] - ref[:, None]
    return 1.0 - F.cosine_similarity(gen, ref_diffs, dim=1).mean()


@dataclass(frozen=True)
class SMMSettings(GuidanceSettings):
    smm_loss: str


@GENERATORS.register("smm")
class SMM(BlockFeatureGuidance):
    defaults: ClassVar[dict[str, Any]] = {**BlockFeatureGuidance.defaults, "smm_loss": "dmt"}
    choices: ClassVar[dict[str, tuple]] = {**BlockFeatureGuidance.choices, "smm_loss": SMM_LOSSES}
    settings_class = SMMSettings

    def block_target(self, ref):
        return spatial_marginal_mean(ref)

    def block_loss(self, target, generated):
        loss = smm_loss if self.settings.smm_loss == "dmt" else smm_loss_ditflow_release
        return loss(target, spatial_marginal_mean(generated))
