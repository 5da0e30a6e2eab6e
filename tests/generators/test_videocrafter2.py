"""VideoCrafter2 / T2V-Turbo-v2 backbones: loading the official checkpoint format, the samplers,
the pipelines through the generators (tiny official-format checkpoints, CPU)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.errors import EvalkitError, MissingWeightsError  # noqa: E402
from evalkit.generators.families import family_class  # noqa: E402
from evalkit.networks.videocrafter2.sampler import LVDMDDIMScheduler, TurboLCMScheduler  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

SMALL = dict(steps=4, height=16, width=16)


@pytest.fixture(scope="module")
def vc2_dir(tmp_path_factory):
    return tp.tiny_videocrafter2(tmp_path_factory.mktemp("vc2") / "weights", turbo=True)


def case(target="a cat runs", source="a dog runs", n=4):
    return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(n, (16, 16)), 8.0, "src")), target,
                              source_prompt=source)


# -- samplers (known answers from the official formulas) -------------------------------------
def test_videocrafter_ddim_schedule_and_scaled_step():
    s = LVDMDDIMScheduler()
    s.set_timesteps(50)
    assert s.timesteps[:3].tolist() == [981, 961, 941] and s.timesteps[-1] == 1 and len(s.timesteps) == 50
    assert s.timesteps[19] == 601 and s.timesteps[20] == 581   # the paper's t = 620 / 600
    # ddpm3d scale_arr: linspace(1, 0.7, 400) then 0.7 (VideoCrafter2: use_scale, scale_b 0.7)
    assert s.scale_arr[0] == 1.0 and s.scale_arr[399] == pytest.approx(0.7) and s.scale_arr[981] == 0.7
    a = s.alphas_cumprod.double().numpy()
    x0, noise = torch.full((1, 1), 2.0), torch.full((1, 1), 0.5)
    assert s.add_noise(x0, noise, torch.tensor([981])).item() == pytest.approx(
        a[981] ** 0.5 * 0.7 * 2 + (1 - a[981]) ** 0.5 * 0.5, rel=1e-6)     # q_sample with the scale
    # η = 0 step from t=381 (scale 1 - 0.3·381/399) to t=361: pred_x0 / scale_t · scale_prev
    s.set_timesteps(50)
    x, eps = torch.full((1, 1), 1.5), torch.full((1, 1), 0.2)
    prev, x0_hat = s.step(eps, 381, x, deterministic=True)
    sc = lambda t: 1 - 0.3 * t / 399  # noqa: E731
    px0 = (1.5 - (1 - a[381]) ** 0.5 * 0.2) / a[381] ** 0.5 / sc(381)
    assert x0_hat.item() == pytest.approx(px0, rel=1e-5)
    assert prev.item() == pytest.approx(a[361] ** 0.5 * sc(361) * px0 + (1 - a[361]) ** 0.5 * 0.2, rel=1e-5)
    # the last step lands on ᾱ₀ (not 1); η = 1 adds noise from the generator only
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    state = torch.get_rng_state()
    assert torch.equal(s.step(eps, 1, x, generator=g1)[0], s.step(eps, 1, x, generator=g2)[0])
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(EvalkitError, match="gives 4 timesteps for 3 steps"):
        s.set_timesteps(3)


def test_turbo_consistency_sampler():
    s = TurboLCMScheduler()
    s.set_timesteps(8)
    assert s.timesteps.tolist() == [999, 874, 749, 624, 499, 374, 249, 124]
    c_skip, c_out = s.boundary(124)
    assert c_skip == pytest.approx(0.25 / (1240 ** 2 + 0.25))
    assert c_out == pytest.approx(1240 / (1240 ** 2 + 0.25) ** 0.5)
    x, eps = torch.full((1, 1), 1.0), torch.full((1, 1), 0.1)
    a = s.alphas_cumprod.double().numpy()
    denoised = c_out * (1 - (1 - a[124]) ** 0.5 * 0.1) / a[124] ** 0.5 + c_skip * 1.0
    prev, x0 = s.step(eps, 124, x, deterministic=True)   # the last step: the denoised sample
    assert prev.item() == x0.item() == pytest.approx(denoised, rel=1e-5)
    prev, x0 = s.step(eps, 999, x, deterministic=True)    # re-noised to t=874 with the predicted noise
    assert prev.item() == pytest.approx(a[874] ** 0.5 * x0.item() + (1 - a[874]) ** 0.5 * 0.1, rel=1e-5)


# -- loading ----------------------------------------------------------------------------------
def test_missing_weights_name_the_model_where_evalkit_looked_and_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(MissingWeightsError, match=r"'VideoCrafter/VideoCrafter2' not found offline; looked in: "
                                                   r".*w/VideoCrafter--VideoCrafter2.*huggingface-cli download"):
        GENERATORS.get("vanilla")(backbone="videocrafter2").load()
    empty = tmp_path / "w" / "VideoCrafter--VideoCrafter2"
    empty.mkdir(parents=True)
    with pytest.raises(MissingWeightsError, match=r"model\.ckpt not found in .*VideoCrafter--VideoCrafter2\. Download "
                                                   r"VideoCrafter/VideoCrafter2/model\.ckpt"):
        GENERATORS.get("vanilla")(backbone="videocrafter2").load()
    empty.rmdir()
    turbo = tmp_path / "turbo"
    turbo.mkdir()
    with pytest.raises(MissingWeightsError, match="unet_mg.pt not found .* jiachenli-ucsb/T2V-Turbo-v2"):
        GENERATORS.get("vanilla")(backbone="t2v-turbo-v2", model_path=str(turbo)).load()
    torch.save({}, turbo / "unet_mg.pt")   # the base model is looked up next
    with pytest.raises(MissingWeightsError, match="T2V-Turbo-v2's base model VideoCrafter2 weights "
                                                   "'VideoCrafter/VideoCrafter2' not found offline"):
        GENERATORS.get("vanilla")(backbone="t2v-turbo-v2", model_path=str(turbo)).load()


def test_a_checkpoint_that_does_not_fit_the_configuration_is_refused(tmp_path):
    folder = tp.tiny_videocrafter2(tmp_path / "w")
    state = torch.load(folder / "model.ckpt")["state_dict"]
    state.pop("first_stage_model.decoder.conv_out.bias")
    torch.save({"state_dict": state}, folder / "model.ckpt")
    with pytest.raises(EvalkitError, match=r"model.ckpt \(autoencoder, text encoder\) does not match .* 1 missing: "
                                           r"first_stage_model\.decoder\.conv_out\.bias"):
        GENERATORS.get("vanilla")(backbone="videocrafter2", model_path=str(folder), **SMALL).load()


def test_an_unreadable_checkpoint_is_one_error_naming_the_file(tmp_path):
    (tmp_path / "model.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(EvalkitError, match=r"cannot read checkpoint .*model\.ckpt: UnpicklingError"):
        GENERATORS.get("vanilla")(backbone="videocrafter2", model_path=str(tmp_path), **SMALL).load()


def test_the_checkpoints_schedule_buffers_must_match_the_sampler(tmp_path):
    folder = tp.tiny_videocrafter2(tmp_path / "w")
    data = torch.load(folder / "model.ckpt")
    # LatentDiffusion's default scale_b (0.3) instead of VideoCrafter2's 0.7
    data["state_dict"]["scale_arr"] = torch.tensor(LVDMDDIMScheduler(scale_b=0.3).scale_arr, dtype=torch.float32)
    torch.save(data, folder / "model.ckpt")
    with pytest.raises(EvalkitError, match="its scale_arr buffer differs from the sampler's schedule"):
        GENERATORS.get("vanilla")(backbone="videocrafter2", model_path=str(folder), **SMALL).load()


def test_vanilla_videocrafter2_and_turbo_through_the_loading_path(vc2_dir):
    van = GENERATORS.get("vanilla")(backbone="videocrafter2", model_path=str(vc2_dir), num_frames=4, **SMALL)
    g = van.generate(case(), 0)
    assert type(van.family) is family_class("videocrafter2")
    assert g.video.frames.shape == (4, 16, 16, 3) and g.video.fps == 10.0 and g.timings.inference > 0
    again = van.generate(case(), 0)
    assert np.array_equal(again.video.frames, g.video.frames)   # the case seed fixes noise and η=1 steps
    assert not np.array_equal(van.generate(case(), 1).video.frames, g.video.frames)
    pipe = van.pipe
    assert pipe.unet.config.fps_cond and pipe.fps_condition == 28.0 and pipe.scale_factor == 0.18215
    emb = pipe.encode_prompt("a dog")
    assert emb.shape == (1, 16, 64)   # context length × width of the tiny text tower
    turbo = GENERATORS.get("vanilla")(backbone="t2v-turbo-v2", model_path=str(vc2_dir), num_frames=4, steps=2,
                                      height=16, width=16)
    t = turbo.generate(case(), 0)
    assert t.video.frames.shape == (4, 16, 16, 3) and t.video.fps == 8.0
    assert turbo.pipe.unet.config.time_cond_proj_dim == 256 and turbo.pipe.motion_gs is None


def test_videocrafter2_family_contract(vc2_dir):
    gen = GENERATORS.get("vanilla")(backbone="videocrafter2", model_path=str(vc2_dir), **SMALL)
    fam = gen.family
    lat = fam.encode_video(tp.moving_square(5, (16, 16)), 8.0)
    assert tuple(lat.tensor.shape) == (1, 4, 5, 8, 8) and lat.grid == (5, 8, 8)   # per-frame VAE, factor 2
    sched = fam.schedule(4, lat)
    assert sched.timesteps.tolist() == [751, 501, 251, 1]
    x = fam.noise_to(sched, lat.tensor, torch.randn_like(lat.tensor), 0).requires_grad_(True)
    out = fam.denoise_once(lat.with_tensor(x), sched.timesteps[0], gen.embed("a dog"), grad=True)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    from evalkit.generators.attention import self_attention_layers

    layers = self_attention_layers(fam.denoiser, type(fam))
    # spatial transformers only: input 1, 3, middle, output 0-3 (the tiny config's two levels)
    assert layers == [f"{b}.1.transformer_blocks.0.attn1" for b in
                      ("input_blocks.1", "input_blocks.3", "middle_block", "output_blocks.0", "output_blocks.1",
                       "output_blocks.2", "output_blocks.3")]


def test_one_video_per_prompt_row(vc2_dir):
    """A batch of prompts gives a batch of videos; each row is denoised as it would be alone."""
    van = GENERATORS.get("vanilla")(backbone="videocrafter2", model_path=str(vc2_dir), **SMALL)
    pipe = van.pipe
    a, b = pipe.encode_prompt("a dog"), pipe.encode_prompt("a cat")
    x = torch.randn(2, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    both = pipe(torch.cat([a, b]), pipe.encode_prompt(""), latents=x, height=16, width=16, num_frames=3,
                num_inference_steps=2, generator=torch.Generator().manual_seed(1)).frames
    assert both.shape == (2, 3, 16, 16, 3)
    with torch.no_grad():
        pair = pipe.denoise(x, torch.tensor(501), torch.cat([a, b]))
        assert torch.allclose(pair[1:], pipe.denoise(x[1:], torch.tensor(501), b), atol=1e-5)
