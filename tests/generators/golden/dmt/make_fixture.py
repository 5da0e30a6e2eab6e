"""Makes the golden fixture (README.md beside it): the DMT release's own code
(diffusion-motion-transfer/diffusion-motion-transfer@da9d4c3: preprocess_video_ddim.Preprocess.ddim_inversion,
utilities/initialize_latent.{prepare_latents, high_freqs_replacement_downsampling},
utilities/guidance_utils.{get_timesteps, register_guidance, register_time, calculate_losses} and
run.Guidance.{guidance_step, denoise_step, undo_step} in run()'s order) on evalkit's tiny ZeroScope-class
U-Net. Not run by CI; needs the release on DMT_RELEASE (read from outside this repository).

usage: DMT_RELEASE=/tmp/dmt_ref python make_fixture.py REPO_ROOT OUT.npz"""
import os
import sys
import tempfile
import types

import numpy as np
import torch

RELEASE = os.environ.get("DMT_RELEASE", "/tmp/dmt_ref")   # a checkout of diffusion-motion-transfer@da9d4c3
sys.path.insert(0, RELEASE)
sys.path.insert(0, sys.argv[1] + "/tests/generators")
sys.path.insert(0, sys.argv[1])
out = sys.argv[2]

from evalkit.compat import ensure_torchvision  # noqa: E402

ensure_torchvision()


def old_diffusers_preprocess_video(video):
    # import adapter: diffusers 0.42 dropped pipelines/text_to_video_synthesis/..._img2img.preprocess_video,
    # which the release imports; its semantics for a list of uint8 HxWx3 arrays: stack, /255, [1, C, F, H, W], 2x-1
    v = np.stack(video, axis=0).astype(np.float32) / 255.0
    return 2.0 * torch.from_numpy(v[None].transpose(0, 4, 1, 2, 3)) - 1.0


def shim(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m


# modules the release imports that current libraries lack; none of these is called here but preprocess_video
shim("diffusers.pipelines.text_to_video_synthesis")
shim("diffusers.pipelines.text_to_video_synthesis.pipeline_text_to_video_synth", tensor2vid=None)
shim("diffusers.pipelines.text_to_video_synthesis.pipeline_text_to_video_synth_img2img",
     preprocess_video=old_diffusers_preprocess_video)
shim("omegaconf", OmegaConf=None)
import torchvision.io  # noqa: E402

for name in ("read_video", "write_video"):   # video file io, gone from current torchvision; unused here
    if not hasattr(torchvision.io, name):
        setattr(torchvision.io, name, None)

import preprocess_video_ddim as release_pre  # noqa: E402
import run as release_run  # noqa: E402
import tiny_pipelines as tp  # noqa: E402
from diffusers import DDIMScheduler  # noqa: E402
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution  # noqa: E402
from utilities import initialize_latent as release_init  # noqa: E402
from utilities.guidance_utils import get_timesteps, register_guidance, register_time  # noqa: E402

# the release samples the VAE posterior (extract_latents, prepare_latents); evalkit takes its mode: so does this
DiagonalGaussianDistribution.sample = lambda self, generator=None: self.mode()

SEED, FRAMES, SIZE, STEPS, INV_STEPS, OPT_STEPS = 0, 4, 32, 4, 20, 3
SOURCE, TARGET = "a dog runs", "a cat runs"
NEGATIVE = "bad quality, distortions, unrealistic, distorted image, watermark, signature"   # guidance_config.yaml
config = dict(device="cpu", seed=SEED, guidance_scale=10, with_lr_decay=True, optim_lr=0.01,
              scale_range=[0.007, 0.004], optimization_steps=OPT_STEPS, max_frames=FRAMES, n_timesteps=STEPS,
              max_guidance_timestep=1, min_guidance_timestep=0.5,   # release 0.6 of 50 steps; 2 of 4 here
              features_loss_weight=0, global_averaging=True, features_diff_loss_weight=1, restart_sampling=True,
              random_init=False, high_freq_replacement_init=True, downsample_factor=4,
              use_upsampler_features=True, use_temporal_attention_features=True,
              use_spatial_attention_features=True, use_conv_features=True, use_temp_conv_features=True,
              up_res_dict={1: [1]}, guidance_before_res=True)

pipe = tp.tiny_unet_t2v()
for m in (pipe.unet, pipe.text_encoder, pipe.vae):
    m.eval()
# the U-Net's weights keep requires_grad (the release never freezes them): on CPU this picks the kernels,
# so the last bits of every forward, even under no_grad
frames = tp.moving_square(FRAMES, (SIZE, SIZE))
latents_dir = tempfile.mkdtemp(prefix="dmt_latents_")


def embeds(prompt, negative):   # the release's _encode_prompt(...).flip(0): [prompt, negative]
    with torch.no_grad():
        pos, neg = pipe.encode_prompt(prompt, "cpu", 1, True, negative_prompt=negative)
    return torch.cat([pos, neg])


# -- preprocess_video_ddim.py: DDIM inversion with the source prompt (preprocess_config: negative "") --
pre = release_pre.Preprocess.__new__(release_pre.Preprocess)
torch.nn.Module.__init__(pre)
pre.unet, pre.vae = pipe.unet, pipe.vae
pre.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
pre.scheduler.set_timesteps(INV_STEPS)
video = old_diffusers_preprocess_video(list(frames))
b, c, f, hh, ww = video.shape
with torch.no_grad():
    x0 = pipe.vae.config.scaling_factor * pipe.vae.encode(
        video.permute(0, 2, 1, 3, 4).reshape(b * f, c, hh, ww)).latent_dist.sample()
x0 = x0[None].reshape((1, f) + x0.shape[1:]).permute(0, 2, 1, 3, 4)
pre.ddim_inversion(embeds(SOURCE, "")[[0]], x0, latents_dir, save_latents=True)

# -- run.py: Guidance.__init__ (its data and state, without the checkpoint loading) --
g = release_run.Guidance.__new__(release_run.Guidance)
torch.nn.Module.__init__(g)
g.config, g.device = config, "cpu"
g.video_pipe, g.unet, g.vae = pipe, pipe.unet, pipe.vae
sched = DDIMScheduler.from_config(pipe.scheduler.config)
sched.set_timesteps(STEPS)
sched.timesteps, g.guidance_schedule = get_timesteps(sched, STEPS, config["max_guidance_timestep"],
                                                      config["min_guidance_timestep"])
g.scheduler = sched
config["latents_path"] = latents_dir
g.video = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255   # get_data: [F, 3, H, W]
g.noisy_latent = release_init.initialize_noisy_latent(g, list(frames))
g.optim_lr, g.optimization_steps = config["optim_lr"], OPT_STEPS
g.scale_range = np.linspace(*config["scale_range"], len(g.guidance_schedule))
g.text_embeds, g.guidance_embeds = embeds(SOURCE, NEGATIVE), embeds(TARGET, NEGATIVE)
g.current_latents = {t.item(): release_init.load_source_latents_t(t, latents_dir)[:, :, :FRAMES]
                     for t in g.scheduler.timesteps}

# the loss of every optimisation iteration (guidance_step logs and drops it): calculate_losses, recorded
calls = []
_calc = release_run.calculate_losses
release_run.calculate_losses = lambda *a: calls.append(_calc(*a)) or calls[-1]

# undo_step draws torch.randn_like unseeded; evalkit seeds the restart noise from a CPU generator at seed + 1
restart_gen = torch.Generator("cpu").manual_seed(SEED + 1)
_undo = g.undo_step


def seeded_undo(sample, timestep):
    _randn_like = torch.randn_like
    torch.randn_like = lambda s: torch.randn(s.shape, generator=restart_gen).to(s)
    try:
        return _undo(sample, timestep)
    finally:
        torch.randn_like = _randn_like


# -- run(), without the decoding --
x = g.noisy_latent
initial = x.clone()
register_guidance(g)
losses, optimised = [], []
n_modules = None
for i, t in enumerate(g.scheduler.timesteps):
    register_time(g, t.item())
    if t in g.guidance_schedule:
        calls.clear()
        x = g.guidance_step(x, i, t)
        n_modules = len(calls) // OPT_STEPS
        losses.append([float(sum(c["total_loss"] for c in calls[k * n_modules:(k + 1) * n_modules]))
                       for k in range(OPT_STEPS)])
        optimised.append(x.detach().clone())
    x = g.denoise_step(x, t)
    if config["restart_sampling"] and t != g.scheduler.timesteps[-1]:
        x = seeded_undo(x, g.scheduler.timesteps[i + 1])
        x = g.denoise_step(x, t)

ts = [int(t) for t in g.scheduler.timesteps]
np.savez(out, source_latents=x0.numpy(), timesteps=np.array(ts),
         guided_timesteps=np.array([int(t) for t in g.guidance_schedule]), lrs=g.scale_range,
         inverted_latents=np.stack([g.current_latents[t].numpy() for t in ts]),
         initial_latents=initial.numpy(), losses=np.array(losses, np.float64),
         optimised_latents=np.stack([o.numpy() for o in optimised]), final_latents=x.numpy(),
         feature_modules=np.array(n_modules))
print("timesteps", ts, "guided", [int(t) for t in g.guidance_schedule], "lrs", g.scale_range.tolist())
print("losses", losses, "modules", n_modules)
