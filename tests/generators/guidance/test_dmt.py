"""DMT (Diffusion Motion Transfer) on a tiny ZeroScope-class U-Net (TextToVideoSDPipeline)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from guidance_tiny import square_case  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.methods.guidance.dmt import low_frequencies  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402


def test_low_frequencies_keep_smooth_content():
    flat = torch.full((1, 4, 2, 8, 8), 0.7)
    assert torch.allclose(low_frequencies(flat, 4), flat, atol=1e-6)
    noise = torch.randn(1, 4, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    assert low_frequencies(noise, 4).std() < noise.std()


def opts(tiny_dirs, **kw):
    base = dict(backbone="zeroscope", model_path=tiny_dirs("unet"), height=32, width=32, steps=4,
                guidance_fraction=0.5, inversion_steps=20, opt_steps=3, lr_start=0.05, lr_end=0.05)
    return {**base, **kw}


def test_dmt_inverts_guides_and_restarts(tiny_dirs):
    c = square_case(frames=4, size=32)
    g = GENERATORS.get("dmt")(**opts(tiny_dirs)).generate(c, 0)
    assert g.extras["guidance_layers"] == ["up_blocks.1.resnets.1.conv2", "up_blocks.1.temp_convs.1"]
    assert sorted(g.extras["losses"]) == ["0", "1"]
    first = g.extras["losses"]["0"]
    assert len(first) == 3 and first[-1] < first[0]
    assert g.timings.inversion > 0 and g.timings.optimization > 0 and g.video.frames.shape == (4, 32, 32, 3)
    no_restart = GENERATORS.get("dmt")(**opts(tiny_dirs, restart=False)).generate(c, 0)
    assert not np.array_equal(no_restart.video.frames, g.video.frames)
    with pytest.raises(EvalkitError, match="does not pass through"):
        GENERATORS.get("dmt")(**opts(tiny_dirs, inversion_steps=3)).generate(c, 0)
    with pytest.raises(EvalkitError, match="dmt runs on the families unet"):   # at construction (plan time)
        GENERATORS.get("dmt")(backbone="cogvideox-2b", model_path=tiny_dirs("cogvideox"), height=48, width=48, steps=2)
