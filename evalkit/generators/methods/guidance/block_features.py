"""Methods whose features are the outputs of DiT blocks (SMM, MOFT as DiTFlow adapts them).

DiTFlow's release reads, for both, the video tokens leaving the guidance block, as
[frames, channels, h, w]; the reference pass is the clean latent at t = 0 with the empty prompt,
as for DiTFlow itself.
"""
from __future__ import annotations

from .base import GuidedTransfer
from .features import frames_of_tokens, token_grid
from .passes import FeaturePass


class BlockFeatureGuidance(GuidedTransfer):
    """A guidance method on the outputs of the guidance blocks (not registered itself)."""

    def feature_pass(self) -> FeaturePass:
        blocks = self.blocks()
        return FeaturePass(self.family, modules=self.block_modules(blocks), stop_module=self.stop_module(blocks))

    def block_features(self, feats: dict) -> list:
        """[frames, channels, h, w] (float32) per guidance block."""
        out = []
        for name in self.block_modules(self.blocks()):
            x = feats[name]
            out.append(frames_of_tokens(x, token_grid(x.shape[1], self.latent_grid)).float())
        return out

    def reference_target(self, feats: dict):
        return [self.block_target(f) for f in self.block_features(feats)]

    def loss(self, target, feats: dict):
        losses = [self.block_loss(t, f) for t, f in zip(target, self.block_features(feats))]
        return sum(losses) / len(losses)

    def block_target(self, ref):
        raise NotImplementedError

    def block_loss(self, target, generated):
        raise NotImplementedError
