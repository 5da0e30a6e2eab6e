"""SMM (DMT's spatial-marginal-mean loss) on a DiT, as DiTFlow's Table 1 runs it."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from evalkit.generators.methods.guidance.smm import smm_loss, spatial_marginal_mean  # noqa: E402


def test_smm_loss_compares_frame_differences_not_content():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(5, 8, generator=g)
    # the anchor's own difference is the zero vector (cosine 0), DMT keeps it: minimum 1/F
    assert float(smm_loss(ref, ref)) == pytest.approx(1 / 5, abs=1e-6)
    shifted = ref + torch.randn(1, 8, generator=g) * 3.0      # other content, same motion
    assert float(smm_loss(ref, shifted)) == pytest.approx(1 / 5, abs=1e-5)
    reversed_motion = ref.flip(0)
    assert float(smm_loss(ref, reversed_motion)) > 0.5
    feats = torch.randn(3, 4, 2, 2, generator=g)
    assert torch.allclose(spatial_marginal_mean(feats), feats.mean(dim=(2, 3)))


def test_smm_loss_decreases_on_a_tiny_cogvideox(tiny_dirs):
    from guidance_tiny import square_case

    from evalkit.registry import GENERATORS

    g = GENERATORS.get("smm")(backbone="cogvideox-5b", model_path=tiny_dirs("cogvideox"), height=48, width=48,
                              steps=2, guidance_fraction=0.5, lr_start=0.05, lr_end=0.05, blocks=1
                              ).generate(square_case(), 0)
    losses = g.extras["losses"]["0"]
    assert losses[-1] < losses[0] and g.extras["kv_injections"] > 0
