"""VideoCrafter2 and T2V-Turbo-v2 (evalkit's port, :mod:`evalkit.networks.videocrafter2`): the lvdm
U-Net's spatial self-attention over the frames as rows, per-frame image VAE, the official
samplers (DDIM with VideoCrafter2's latent scale schedule; T2V-Turbo's consistency sampler).

The pipelines take the conditional U-Net call first and the unconditional one second
(``p_sample_ddim``): sequential CFG. T2V-Turbo-v2 makes one (conditional) call per step.
"""
from __future__ import annotations

import numpy as np

from ..attention.compute import ControlProcessor, attend
from . import FAMILIES
from .base import Embeds, Latents, ModelFamily


class LVDMControlProcessor(ControlProcessor):
    """Self-attention of lvdm's ``CrossAttention`` (attn1 of a spatial transformer)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None):
        b = hidden_states.shape[0]
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        q, k, v = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        q, k, v = (t.view(b, -1, attn.heads, attn.dim_head).transpose(1, 2) for t in (q, k, v))
        chunks = self.controller.process(self.layer, q, k, v, layout="BHSD", rope=False)
        out = attend(chunks, "BHSD", attention_mask, self.backend)
        return attn.to_out(out.reshape(b, -1, attn.heads * attn.dim_head).to(q.dtype))


@FAMILIES.register("videocrafter2")
class VideoCrafter2Family(ModelFamily):
    architecture = "unet"
    cfg = "sequential"
    # the spatial transformers (index 1 of their block), not the temporal ones (index 2, init_attn)
    self_attention = r"^(?:input_blocks\.\d+|middle_block|output_blocks\.\d+)\.1\.transformer_blocks\.\d+\.attn1$"
    processor = LVDMControlProcessor

    @property
    def denoiser(self):
        return self.pipe.unet

    def encode_prompt(self, prompt: str) -> Embeds:
        return Embeds(self.pipe.encode_prompt(prompt))

    def decoder_block(self, level: int) -> str:
        # lvdm: num_res_blocks + 1 output blocks per level; the level's last one holds its upsampler
        per_level = len(self.denoiser.output_blocks) // len(self.denoiser.config.channel_mult)
        return f"output_blocks.{(int(level) + 1) * per_level - 1}"

    def decode(self, latents) -> np.ndarray:
        # evalkit's VideoCrafter2 port: decode() gives (B, F, H, W, 3) in [0, 1]
        return (np.clip(self.pipe.decode(latents)[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)

    def encode_video(self, frames: np.ndarray, fps: float) -> Latents:
        import torch

        vae = self.pipe.vae
        per_frame = self._pixels(frames)[0].permute(1, 0, 2, 3)   # frames as an image batch (encode_first_stage)
        with torch.no_grad():
            z = vae.encode(per_frame).latent_dist.mode()
        z = (z.float() * self.pipe.scale_factor).permute(1, 0, 2, 3)[None].contiguous()   # [1, C, F, h, w]
        return Latents(z, len(frames), frames.shape[1], frames.shape[2], fps, tuple(z.shape[2:]))

    def denoise_once(self, latents: Latents, t, embeds: Embeds, *, grad: bool = False):
        import torch

        with torch.set_grad_enabled(grad):
            return self.pipe.denoise(latents.tensor, t, embeds.embeds)

    def scheduler_step(self, sched, model_output, t, x):
        # deterministic (η = 0) outside the pipeline: the latent-consistency pass re-noises with
        # its own seeded noise and must not draw from the global RNG
        return sched.step(model_output, t, x, deterministic=True)[0]
