"""MOFT (motion features: temporal mean removed, motion channels) on a DiT, as DiTFlow runs it."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.methods.guidance.moft import moft_loss, motion_channels, motion_features  # noqa: E402


def test_motion_channels_are_those_that_change_over_time():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 16, 3, 3, generator=g).repeat(6, 1, 1, 1)      # static content in every channel
    feats[:, 5] += torch.linspace(-3, 3, 6).view(6, 1, 1)                  # channel 5 moves
    moft = motion_features(feats)
    assert torch.allclose(moft.mean(0), torch.zeros(16, 3, 3), atol=1e-6)
    assert motion_channels(moft, 1 / 16).tolist() == [5]
    with pytest.raises(EvalkitError, match="selects no channel"):
        motion_channels(moft, 0.01)


def test_moft_loss_is_zero_for_the_same_motion_on_other_content():
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(4, 8, 2, 2, generator=g)
    channels = torch.tensor([0, 3])
    other_content = ref + torch.randn(1, 8, 2, 2, generator=g)
    assert float(moft_loss(motion_features(ref), channels, other_content)) == pytest.approx(0.0, abs=1e-6)
    assert float(moft_loss(motion_features(ref), channels, ref.flip(0))) > 0.1


def test_moft_loss_decreases_on_a_tiny_cogvideox(tiny_dirs):
    from guidance_tiny import square_case

    from evalkit.registry import GENERATORS

    g = GENERATORS.get("moft")(backbone="cogvideox-2b", model_path=tiny_dirs("cogvideox"), height=48, width=48,
                               steps=2, guidance_fraction=0.5, lr_start=0.05, lr_end=0.05, blocks=1,
                               motion_channel_fraction=0.1).generate(square_case(), 0)
    losses = g.extras["losses"]["0"]
    assert len(losses) == 5 and losses[-1] < losses[0]
