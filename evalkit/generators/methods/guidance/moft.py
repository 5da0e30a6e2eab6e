"""MOFT: motion-feature guidance (Xiao et al., "Video Diffusion Models are Training-free Motion
Interpreter and Controller", NeurIPS 2024) on a DiT, as DiTFlow's Table 1 runs it (Sec. 5.1, its
release): features of the guidance block from one reference pass at t = 0, with KV injection and
DiTFlow's optimiser and schedule.

MOFT removes content by subtracting the temporal mean of the features and keeps the motion
channels: the ``motion_channel_fraction`` (4 %) of channels with the largest weight in the first
principal direction (first right singular vector) of the reference's mean-removed features. The
loss is 1 − the cosine similarity over those channels, per frame and position, averaged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.errors import EvalkitError
from evalkit.registry import GENERATORS

from .block_features import BlockFeatureGuidance
from .settings import GuidanceSettings


@dataclass(frozen=True)
class MOFTSettings(GuidanceSettings):
    motion_channel_fraction: float


def motion_features(features):
    """Content removed: [frames, channels, h, w] minus its temporal mean."""
    return features - features.mean(dim=0, keepdim=True)


def motion_channels(moft, fraction: float):
    """Indices of the ``fraction`` of channels weighing most in the first principal direction."""
    import torch

    f, c, h, w = moft.shape
    n = int(fraction * c)
    if n < 1:
        raise EvalkitError(f"moft: motion_channel_fraction={fraction} selects no channel of {c}")
    _, _, vt = torch.linalg.svd(moft.permute(0, 2, 3, 1).reshape(-1, c).float(), full_matrices=False)
    return torch.argsort(vt[0].abs(), descending=True)[:n]


def moft_loss(reference_moft, channels, generated):
    import torch.nn.functional as F

    gen = motion_features(generated)[:, channels]
    return 1.0 - F.cosine_similarity(gen, reference_moft[:, channels].to(gen.dtype), dim=1).mean()


@GENERATORS.register("moft")
class MOFT(BlockFeatureGuidance):
    defaults: ClassVar[dict[str, Any]] = {**BlockFeatureGuidance.defaults,
                                          "motion_channel_fraction": 0.04}   # DiTFlow release: prop_motion
    bounds: ClassVar[dict[str, tuple]] = {**BlockFeatureGuidance.bounds, "motion_channel_fraction": (0.0, 1.0)}
    settings_class = MOFTSettings

    def block_target(self, ref):
        moft = motion_features(ref)
        return moft, motion_channels(moft, float(self.settings.motion_channel_fraction))

    def block_loss(self, target, generated):
        return moft_loss(target[0], target[1], generated)
