"""DMT, Diffusion Motion Transfer (Yatim et al., "Space-Time Diffusion Features for Zero-Shot
Text-Driven Motion Transfer", CVPR 2024), on ZeroScope (576×320, 24 frames) as LMP and Motion by
Queries use it. Settings from the release (configs/guidance_config.yaml, preprocess_config.yaml):

- inversion stage: DDIM inversion of the source latent with the source prompt over 999 steps,
  keeping the inverted latent at each sampling timestep;
- initial latent: the inversion re-expressed at the first sampling timestep, its low spatial
  frequencies (bilinear ×1/4) plus the high frequencies of the seeded noise;
- the first 40 % of 50 DDIM steps (t from 1000 to 600) are guided: 10 Adam steps with lr
  linearly decreasing 0.007 → 0.004 minimise the SMM loss (spatial marginal means, anchor-frame
  differences; :mod:`evalkit.generators.methods.guidance.smm`) between the generation's features (target prompt)
  and the inverted source's at the same t (source prompt), summed over the features of decoder
  block ``up_blocks.1``: its upsampler, the second resnet's output before the residual, the
  second temporal convolution;
- every step but the last is restarted: re-noised back one step and denoised again; CFG 10.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.errors import EvalkitError
from evalkit.registry import GENERATORS

from .base import GuidedTransfer
from .passes import FeaturePass
from .settings import GuidanceSettings
from .smm import smm_loss, spatial_marginal_mean


@dataclass(frozen=True)
class DMTSettings(GuidanceSettings):
    block_layers: Any
    inversion_steps: int
    restart: bool
    high_freq_init: bool
    downsample_factor: int


def _ddim(sched, what: str):
    if type(sched).__name__ != "DDIMScheduler":
        raise EvalkitError(f"dmt: {what} needs a DDIMScheduler, the pipeline has {type(sched).__name__}")
    return sched


def ddim_inversion(family, x0, embeds, steps: int, keep: set[int]) -> tuple[dict[int, Any], tuple[int, Any]]:
    """DDIM inversion (η = 0, conditional only) of ``x0`` over ``steps`` steps: the latents at the
    timesteps ``keep`` and (t, latent) at the noisiest step."""
    import torch

    sched = _ddim(family.schedule(int(steps)), "DDIM inversion")
    ts = list(reversed(sched.timesteps))
    missing = sorted(keep - {int(t) for t in ts})
    if missing:
        raise EvalkitError(f"dmt: inversion_steps={steps} does not pass through the sampling timesteps {missing}")
    latent, kept = x0.tensor, {}
    with torch.no_grad():
        for i, t in enumerate(ts):
            a_t = sched.alphas_cumprod[int(t)]
            a_prev = sched.alphas_cumprod[int(ts[i - 1])] if i > 0 else sched.final_alpha_cumprod
            eps = family.denoise_once(x0.with_tensor(latent), t, embeds).to(latent.dtype)
            pred_x0 = (latent - (1 - a_prev) ** 0.5 * eps) / a_prev ** 0.5
            latent = a_t ** 0.5 * pred_x0 + (1 - a_t) ** 0.5 * eps
            if int(t) in keep:
                kept[int(t)] = latent
    return kept, (int(ts[-1]), latent)


def low_frequencies(x, factor: int):
    """[1, C, F, H, W] -> its per-frame bilinear down- (÷factor) and up-sampling."""
    import torch.nn.functional as F

    b, c, f, h, w = x.shape
    frames = x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w).float()   # antialiased resampling in float32
    down = F.interpolate(frames, size=(h // factor, w // factor), mode="bilinear", align_corners=True,
                         antialias=True)
    up = F.interpolate(down, size=(h, w), mode="bilinear", align_corners=True, antialias=True)
    return up.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4).to(x.dtype)


@GENERATORS.register("dmt")
class DMT(GuidedTransfer):
    families: ClassVar[tuple[str, ...]] = ("unet",)   # ZeroScope / ModelScope (UNet3DConditionModel)
    settings_class = DMTSettings
    defaults: ClassVar[dict[str, Any]] = {
        **GuidedTransfer.defaults,
        "guidance_scale": 10.0, "guidance_fraction": 0.4, "opt_steps": 10, "lr_start": 0.007, "lr_end": 0.004,
        "kv_blocks": "none",
        "reference_prompt": "source",  # inversion and reference features with the source prompt
        "blocks": 1,                  # the decoder block (up_blocks.1)
        "block_layers": "1",          # its resnet / temporal-conv index (up_res_dict {1: [1]})
        "inversion_steps": 999,
        "restart": True,              # restart_sampling
        "high_freq_init": True,       # high_freq_replacement_init
        "downsample_factor": 4,
    }

    types: ClassVar[dict[str, type]] = {**GuidedTransfer.types, "block_layers": object}
    bounds: ClassVar[dict[str, tuple]] = {**GuidedTransfer.bounds, "inversion_steps": (1, None),
                                          "downsample_factor": (1, None)}

    # -- features ----------------------------------------------------------------------
    def guidance_layers(self) -> list[str]:
        block = f"up_blocks.{int(self.settings.blocks)}"
        model = self.family.denoiser
        modules = dict(model.named_modules())
        if block not in modules:
            raise EvalkitError(f"dmt: {self.spec.name} has no {block}")
        names = [f"{block}.upsamplers.0"] if f"{block}.upsamplers.0" in modules else []
        for i in str(self.settings.block_layers).split(","):
            names += [f"{block}.resnets.{int(i)}.conv2", f"{block}.temp_convs.{int(i)}"]
        return names

    def feature_pass(self) -> FeaturePass:
        nxt = f"up_blocks.{int(self.settings.blocks) + 1}"
        stop = nxt if self.settings.truncate and nxt in dict(self.family.denoiser.named_modules()) else None
        return FeaturePass(self.family, modules=self.guidance_layers(), stop_module=stop)

    def smms(self, feats: dict) -> list:
        frames = self.latent_grid[0]
        out = []
        for name in self.guidance_layers():
            x = feats[name]
            if x.shape[0] != frames:
                raise EvalkitError(f"dmt: feature {name} of shape {tuple(x.shape)} is not {frames} frames")
            out.append(spatial_marginal_mean(x.float()))
        return out

    def loss(self, target, feats: dict):
        return sum(smm_loss(t, g) for t, g in zip(target, self.smms(feats)))

    # -- inversion, reference per step, initial latent, restart -------------------------
    def reference(self, x0, case, seed: int) -> Any:
        s = self.settings
        sched = _ddim(self.family.schedule(int(s.steps)), "DMT sampling")
        keep = {int(sched.timesteps[i]) for i in self.guided()}
        emb = self.embed(case.source_prompt if s.reference_prompt == "source" else "")
        kept, noisiest = ddim_inversion(self.family, x0, emb, int(s.inversion_steps), keep)
        return {"latents": kept, "noisiest": noisiest, "embeds": emb}

    def target_at(self, run, i: int):
        t = int(run.sched.timesteps[i])
        feats = self.feature_pass().run(run.x0.with_tensor(run.target["latents"][t]), t, run.target["embeds"],
                                        grad=False, step=i)
        return self.smms(feats)

    def initial_latents(self, run, z):
        sched, x0 = run.sched, run.x0.tensor
        t_n, z_n = run.target["noisiest"]
        a_n = sched.alphas_cumprod[t_n]
        eps = (z_n - a_n ** 0.5 * x0) / (1 - a_n) ** 0.5
        init = sched.add_noise(x0, eps, sched.timesteps[:1])
        if self.settings.high_freq_init:
            k = int(self.settings.downsample_factor)
            init = low_frequencies(init, k) + (z - low_frequencies(z, k))
        return init.to(z.dtype)

    def post_step(self, run, i: int, z):
        """DMT's restart: re-noise z_{t_{i+1}} back to t_i (one forward-diffusion step) and denoise again."""
        import torch

        sched = run.sched
        s = self.settings
        if not s.restart or i >= len(sched.timesteps) - 1:
            return z
        # a fixed CPU stream (the same restart noise on every device), seeded from the case seed
        gen = run.state.setdefault("restart_noise", torch.Generator(device="cpu").manual_seed(run.seed + 1))
        t_next = int(sched.timesteps[i + 1])
        for j in range(sched.config.num_train_timesteps // sched.num_inference_steps):
            beta = sched.betas[t_next + j]
            z = (1 - beta) ** 0.5 * z + beta ** 0.5 * torch.randn(z.shape, generator=gen).to(z)
        t = sched.timesteps[i]
        lat = run.x0.with_tensor(z)
        cond = self.family.denoise_once(lat, t, run.embeds).to(z.dtype)
        scale = float(s.guidance_scale)
        if scale > 1.0:
            uncond = self.family.denoise_once(lat, t, self.embed(s.negative_prompt)).to(z.dtype)
            cond = uncond + scale * (cond - uncond)
        return self.family.scheduler_step(sched, cond, t, z)
