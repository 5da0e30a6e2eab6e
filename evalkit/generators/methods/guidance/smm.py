"""SMM: the spatial marginal mean loss of Diffusion Motion Transfer (Yatim et al., CVPR 2024) on a
DiT, as DiTFlow's Table 1 runs it (Sec. 5.1): DDIM inversion replaced by KV injection, features of
the guidance block from one reference pass at t = 0, DiTFlow's optimiser and schedule.

SMM(f) is the spatial mean of the features, one vector per frame; the loss compares the
differences between every frame and each anchor frame:
L = mean_anchors (1 − mean_frames cos(SMM_gen[t] − SMM_gen[a], SMM_ref[t] − SMM_ref[a])) (DMT's
``features_diff_loss``; DiTFlow's release takes the reference's anchor for the generation too
and the cosine over frames, which we read as slips and do not reproduce).
"""
from __future__ import annotations

from evalkit.registry import GENERATORS

from .block_features import BlockFeatureGuidance


def spatial_marginal_mean(features):
    """[frames, channels, h, w] -> [frames, channels]."""
    return features.mean(dim=(-1, -2))


def smm_loss(reference_smm, generated_smm):
    """DMT's anchor-difference cosine loss between two [frames, channels] SMMs."""
    import torch.nn.functional as F

    gen = generated_smm[None] - generated_smm[:, None]      # [anchor, frame, channels]
    ref = reference_smm[None] - reference_smm[:, None]
    return 1.0 - F.cosine_similarity(gen, ref.to(gen.dtype), dim=-1).mean()


@GENERATORS.register("smm")
class SMM(BlockFeatureGuidance):
    def block_target(self, ref):
        return spatial_marginal_mean(ref)

    def block_loss(self, target, generated):
        return smm_loss(target, spatial_marginal_mean(generated))
