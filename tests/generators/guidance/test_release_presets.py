"""Issue 26: the releases' settings as named options (defaults unchanged): DiTFlow's and MotionClone's
negative prompts, MotionClone's CFG form, reference noise and frame count, SMM as DiTFlow's release
computes it. Each option against the release's own formula or a second code path."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from guidance_tiny import square_case  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.methods.guidance.smm import smm_loss, smm_loss_ditflow_release  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402


def unet_opts(tiny_dirs, **kw):
    return {**dict(backbone="zeroscope", model_path=tiny_dirs("unet"), height=32, width=32, steps=4,
                   guidance_fraction=0.5, warm_up_steps=1, cool_down_steps=1), **kw}


# -- SMM: smm_loss=ditflow-release -------------------------------------------------------
def release_smm_loop(orig_smm, target_smm):
    """ditflow/ditflow@4db379b motion_guidance.py:476-482, written out as its loop ([t, d] SMMs)."""
    import torch.nn.functional as F

    loss = 0.0
    for f in range(orig_smm.shape[0]):
        orig_anchor = orig_smm[f]
        target_anchor = orig_smm[f]
        loss += 1 - F.cosine_similarity(target_smm - target_anchor, orig_smm - orig_anchor, dim=0).mean()
    return loss / orig_smm.shape[0]


def test_ditflow_release_smm_loss_is_the_release_loop_and_not_dmts():
    g = torch.Generator().manual_seed(0)
    ref, gen = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    assert float(smm_loss_ditflow_release(ref, gen)) == pytest.approx(float(release_smm_loop(ref, gen)), abs=1e-6)
    assert float(smm_loss_ditflow_release(ref, ref)) == pytest.approx(0.0, abs=1e-6)   # DMT's minimum is 1/F
    shifted = ref + torch.randn(1, 8, generator=g) * 3.0   # the same motion, other content
    assert float(smm_loss(ref, shifted)) == pytest.approx(1 / 5, abs=1e-5)        # DMT: invariant to the shift
    assert float(smm_loss_ditflow_release(ref, shifted)) > 0.05                    # the reference's anchor: not


def test_smm_generator_option_switches_the_loss(tiny_dirs):
    opts = dict(backbone="cogvideox-5b", model_path=tiny_dirs("cogvideox"), height=48, width=48, steps=2,
                guidance_fraction=0.5, lr_start=0.05, lr_end=0.05, blocks=1)
    assert GENERATORS.get("smm")(**opts).settings.smm_loss == "dmt"
    dmt = GENERATORS.get("smm")(**opts).generate(square_case(), 0).extras["losses"]["0"]
    rel = GENERATORS.get("smm")(**opts, smm_loss="ditflow-release").generate(square_case(), 0).extras["losses"]["0"]
    assert rel[-1] < rel[0] and rel[0] != pytest.approx(dmt[0], abs=1e-4)
    with pytest.raises(EvalkitError, match="smm_loss"):
        GENERATORS.get("smm")(**opts, smm_loss="ditflow")


# -- negative_prompt=release ---------------------------------------------------------------
def test_release_negative_prompts_resolve_per_method_and_others_refuse():
    d = GENERATORS.get("ditflow")(backbone="cogvideox-5b", negative_prompt="release")
    assert d.negative_prompt.startswith("bad quality, distortions") and d.options["negative_prompt"] == "release"
    m = GENERATORS.get("motionclone")(backbone="zeroscope", negative_prompt="release")
    assert m.negative_prompt.startswith("bad anatomy, extra limbs") and m.negative_prompt.endswith("missing fingers")
    assert GENERATORS.get("ditflow")(backbone="cogvideox-5b").negative_prompt == ""          # default unchanged
    with pytest.raises(EvalkitError, match="names no release negative prompt"):
        GENERATORS.get("dmt")(backbone="zeroscope", negative_prompt="release")


# -- MotionClone: cfg_combine=release ----------------------------------------------------------
def test_release_cfg_form_is_the_standard_form_at_s_plus_one(tiny_dirs):
    g = torch.Generator().manual_seed(0)
    eps_u, eps_c, s = torch.randn(4, generator=g), torch.randn(4, generator=g), 7.5
    release = eps_c + s * (eps_c - eps_u)                # motionclone_functions.py:239, :255
    assert torch.allclose(release, eps_u + (s + 1) * (eps_c - eps_u), atol=1e-6)
    c = square_case(frames=4, size=32)
    rel = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs, guidance_scale=7.5, cfg_combine="release"))
    assert rel.guidance == 8.5 and GENERATORS.get("motionclone")(**unet_opts(tiny_dirs)).guidance == 9.0
    out = rel.generate(c, 2)
    std = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs, guidance_scale=8.5)).generate(c, 2)
    assert np.array_equal(out.video.frames, std.video.frames)
    assert out.extras["cfg_combine"] == "release" and out.extras["guidance_scale"] == 8.5
    plain = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs, guidance_scale=7.5)).generate(c, 2)
    assert not np.array_equal(out.video.frames, plain.video.frames)


# -- MotionClone: reference_noise=generation, source_frames ----------------------------------------
def test_reference_noise_generation_is_the_pipelines_initial_noise(tiny_dirs):
    mc = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs, reference_noise="generation", steps=1))
    c = square_case(frames=4, size=32)
    x0 = mc.source_latents(c)
    seen = []

    def keep(z):
        seen.append(z.clone())
        return z

    with mc.family.initial_latents_through(keep):   # the pipeline's own draw inside its call
        mc.sample(c.target_prompt, 5, num_frames=x0.num_frames, fps=x0.fps, output_type="latent")
    assert torch.equal(mc.record_noise(x0, 5), seen[0].to(x0.tensor))
    assert not torch.equal(mc.record_noise(x0, 6), seen[0].to(x0.tensor))
    seeded = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs))
    seeded.use_pipeline(mc.pipe)
    assert not torch.equal(seeded.record_noise(x0, 5), seen[0].to(x0.tensor))   # default: record_seed's stream


def test_source_frames_resamples_as_the_release_and_checks_the_vae_count(tiny_dirs):
    mc = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs, source_frames=16))
    frames = np.arange(24).reshape(24, 1, 1, 1)
    assert mc.resample_source(frames).ravel().tolist() == np.linspace(0, 23, 16, dtype=int).tolist()
    assert GENERATORS.get("motionclone")(**unet_opts(tiny_dirs)).resample_source(frames).shape[0] == 24
    x0 = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs, source_frames=3)).source_latents(square_case(frames=9,
                                                                                                         size=32))
    assert x0.num_frames == 3 and x0.grid[0] == 3   # the generation then has the reference's 3 frames too
    dit = GENERATORS.get("motionclone")(backbone="cogvideox-5b", model_path=tiny_dirs("cogvideox"), height=48,
                                        width=48, source_frames=16)
    with pytest.raises(EvalkitError, match="source_frames=16 is not k·4\\+1"):
        dit.source_latents(square_case())
