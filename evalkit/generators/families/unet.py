"""U-Net text-to-video (``TextToVideoSDPipeline``, ``UNet3DConditionModel``: zeroscope, ModelScope):
spatial self-attention over the frames as rows, per-frame image VAE, legacy step callback."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..attention.compute import ControlProcessor, attend, split_heads_bhsd
from . import FAMILIES
from .base import Embeds, Latents, ModelFamily


class UNetControlProcessor(ControlProcessor):
    """Plain ``Attention`` self-attention (the U-Net's spatial transformers' attn1)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args,
                 **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        ndim = hidden_states.ndim
        if ndim == 4:
            bb, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(bb, c, h * w).transpose(1, 2)
        b, n, _ = hidden_states.shape if encoder_hidden_states is None else encoder_hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n, b)
            attention_mask = attention_mask.view(b, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key, value = attn.to_k(encoder_hidden_states), attn.to_v(encoder_hidden_states)
        query, key, value, head_dim = split_heads_bhsd(attn, query, key, value)
        chunks = self.controller.process(self.layer, query, key, value, layout="BHSD", rope=False)
        out = attend(chunks, "BHSD", attention_mask, self.backend)
        out = out.reshape(b, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if ndim == 4:
            out = out.transpose(-1, -2).reshape(bb, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


@FAMILIES.register("unet")
class UNetFamily(ModelFamily):
    architecture = "unet"
    # spatial transformers only (".attentions."), not the temporal ones (".temp_attentions.", transformer_in)
    self_attention = r"^(?:down_blocks|mid_block|up_blocks)\b.*\.attentions\.\d+\.transformer_blocks\.\d+\.attn1$"
    processor = UNetControlProcessor

    @property
    def denoiser(self):
        return self.pipe.unet

    def encode_prompt(self, prompt: str) -> Embeds:
        emb, _ = self.pipe.encode_prompt(prompt, self.device, 1, False)
        return Embeds(emb)

    def step_callback_kwargs(self, controller) -> dict[str, Any]:
        # TextToVideoSDPipeline has only the legacy callback(step, t, latents)
        return {"callback": controller.legacy_callback, "callback_steps": 1}

    def decoder_block(self, level: int) -> str:
        return f"up_blocks.{int(level)}"

    def decode(self, latents) -> np.ndarray:
        # the pipeline decodes itself (TextToVideoSD: [B, C, F, h, w]; CogVideoX: [B, F, C, h, w])
        return self._to_uint8(self.pipe.decode_latents(latents.to(self.pipe.vae.dtype))[0])

    def encode_video(self, frames: np.ndarray, fps: float) -> Latents:
        import torch

        vae = self.pipe.vae
        per_frame = self._pixels(frames)[0].permute(1, 0, 2, 3)  # frames as an image batch
        with torch.no_grad():
            z = vae.encode(per_frame).latent_dist.mode() * vae.config.scaling_factor
        z = z.permute(1, 0, 2, 3)[None].contiguous()   # [1, C, F, H, W]
        return Latents(z, len(frames), frames.shape[1], frames.shape[2], fps, tuple(z.shape[2:]))

    def denoise_once(self, latents: Latents, t, embeds: Embeds, *, grad: bool = False):
        import torch

        model, x = self.denoiser, latents.tensor
        with torch.set_grad_enabled(grad):
            return model(x.to(model.dtype), t, encoder_hidden_states=embeds.embeds, return_dict=False)[0]

    def scheduler_step(self, sched, model_output, t, x):
        # the scheduler steps frames as images, as TextToVideoSDPipeline does
        b, c, f, h, w = x.shape
        xs = x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        es = model_output.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        xs = sched.step(es, t, xs).prev_sample
        return xs.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)
