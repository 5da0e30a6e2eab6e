"""evalkit's ``dmt`` against golden outputs of the DMT release's own code
(diffusion-motion-transfer/diffusion-motion-transfer @ da9d4c3) on the tiny ZeroScope-class U-Net of
the generator tests: the DDIM-inverted source latents, the high-frequency initial latent, the SMM
loss before each Adam iteration of the guided steps, the optimised latents and the final latents
after the restarts. How the fixture was made: golden/dmt/README.md."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))          # tiny_pipelines / guidance_tiny (the generator tests' helpers)
from guidance_tiny import square_case  # noqa: E402

from evalkit.registry import GENERATORS  # noqa: E402

FIXTURE = HERE / "dmt" / "tiny_unet_zeroscope.npz"
RTOL = 1e-5
# guidance_config.yaml's negative prompt (not evalkit's default; dmt has no negative_prompt=release)
RELEASE_NEGATIVE = "bad quality, distortions, unrealistic, distorted image, watermark, signature"
# the fixture's setup (README): 4 DDIM steps, the first 2 guided (lr 0.007, 0.004), 3 Adam iterations,
# inversion over 20 steps; everything else is dmt's default (the release's guidance_config.yaml)
TINY = dict(backbone="zeroscope", height=32, width=32, steps=4, guidance_fraction=0.5, inversion_steps=20,
            opt_steps=3, negative_prompt=RELEASE_NEGATIVE)


class Recording(GENERATORS.get("dmt")):
    """``dmt`` that keeps the inversion, the guided run and the latents it decodes."""

    def reference(self, x0, case, seed):
        self.kept_x0 = x0.tensor.detach().clone()
        self.kept_reference = super().reference(x0, case, seed)
        return self.kept_reference

    def initial_latents(self, run, z):
        self.kept_initial = super().initial_latents(run, z)
        return self.kept_initial

    def new_run(self, *args, **kwargs):
        self.kept_run = super().new_run(*args, **kwargs)
        return self.kept_run


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def generate(tiny_dirs, monkeypatch, **change):
    from diffusers import TextToVideoSDPipeline

    decoded = []
    original = TextToVideoSDPipeline.decode_latents

    def keep(self, latents):
        decoded.append(latents.detach().clone())
        return original(self, latents)

    monkeypatch.setattr(TextToVideoSDPipeline, "decode_latents", keep)
    gen = Recording(model_path=tiny_dirs("unet"), **{**TINY, **change})
    result = gen.generate(square_case(frames=4, size=32), 0)
    return gen, result, decoded[-1]


def test_dmt_matches_the_release_golden_outputs(tiny_dirs, monkeypatch):
    golden = np.load(FIXTURE)
    gen, result, final = generate(tiny_dirs, monkeypatch)
    run = gen.kept_run
    ts = [int(t) for t in run.sched.timesteps]
    assert ts == golden["timesteps"].tolist()
    assert [ts[i] for i in run.guided] == golden["guided_timesteps"].tolist()
    assert run.lrs == pytest.approx(golden["lrs"].tolist(), rel=1e-12)
    assert result.extras["guidance_layers"] == ["up_blocks.1.resnets.1.conv2", "up_blocks.1.temp_convs.1"]
    assert int(golden["feature_modules"]) == 2            # the release's hooks on the same two modules
    # source latents (VAE posterior mode; the pixel scaling /127.5 − 1 vs the release's /255·2 − 1)
    assert relative(gen.kept_x0.numpy(), golden["source_latents"]) <= RTOL
    # DDIM inversion with the source prompt, kept at every sampling timestep
    kept = gen.kept_reference["latents"]
    for t, ref in zip(ts, golden["inverted_latents"]):
        if t in kept:
            assert relative(kept[t].numpy(), ref) <= RTOL, t
    # initial latent: the inversion re-expressed at t_0, its low frequencies + the seeded noise's high ones
    assert relative(gen.kept_initial.numpy(), golden["initial_latents"]) <= RTOL
    # SMM loss before every Adam iteration and the optimised z_t of both guided steps
    for k, i in enumerate(run.guided):
        losses = result.extras["losses"][str(i)]
        assert relative(losses, golden["losses"][k]) <= RTOL, (losses, golden["losses"][k].tolist())
        assert relative(run.stored[i].numpy(), golden["optimised_latents"][k]) <= RTOL
    # the sampled latent after every step and restart (CFG with the release's negative prompt)
    assert relative(final.numpy(), golden["final_latents"]) <= RTOL


@pytest.mark.parametrize("change", [dict(restart=False), dict(high_freq_init=False), dict(block_layers="0")],
                         ids=["no-restart", "no-high-freq-init", "other-features"])
def test_the_fixture_separates_the_release_settings_from_others(tiny_dirs, monkeypatch, change):
    """The comparison can fail: without the restarts, without the high-frequency initialisation or
    with other features, the final latents (or the losses) leave the release's."""
    golden = np.load(FIXTURE)
    gen, result, final = generate(tiny_dirs, monkeypatch, **change)
    assert relative(final.numpy(), golden["final_latents"]) > 1e-3
