"""LTX-Video (``LTXPipeline``): packed latents, prompt attention masks, a sigma schedule shifted by
the sequence length, RoPE scaled by the frame rate."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..attention.compute import ControlProcessor, attend
from . import FAMILIES
from .base import Embeds, Latents, ModelFamily


class LTXControlProcessor(ControlProcessor):
    """LTXAttention self-attention."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        from diffusers.models.transformers.transformer_ltx import apply_rotary_emb

        b, n, _ = hidden_states.shape if encoder_hidden_states is None else encoder_hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n, b)
            attention_mask = attention_mask.view(b, attn.heads, -1, attention_mask.shape[-1])
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        query, key = attn.norm_q(query), attn.norm_k(key)
        if image_rotary_emb is not None:
            query, key = apply_rotary_emb(query, image_rotary_emb), apply_rotary_emb(key, image_rotary_emb)
        query = query.unflatten(2, (attn.heads, -1))
        key = key.unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        chunks = self.controller.process(self.layer, query, key, value, layout="BSHD",
                                         rope=image_rotary_emb is not None)
        out = attend(chunks, "BSHD", attention_mask, self.backend, self.parallel_config)
        out = out.flatten(2, 3).to(query.dtype)
        return attn.to_out[1](attn.to_out[0](out))


@FAMILIES.register("ltx")
class LTXFamily(ModelFamily):
    architecture = "dit"
    self_attention = r"^transformer_blocks\.(\d+)\.attn1$"
    processor = LTXControlProcessor

    def encode_prompt(self, prompt: str) -> Embeds:
        emb, mask, _, _ = self.pipe.encode_prompt(prompt, None, False, device=self.device)
        return Embeds(emb, mask)

    def prompt_kwargs(self, cond: Embeds, negative: Embeds | None) -> dict[str, Any]:
        kwargs = super().prompt_kwargs(cond, negative)
        kwargs["prompt_attention_mask"] = cond.mask
        if negative is not None:
            kwargs["negative_prompt_attention_mask"] = negative.mask
        return kwargs

    def clip_kwargs(self, fps: float) -> dict[str, Any]:
        # the frame rate scales RoPE: the target is generated at the rate its source was recorded at
        return {"frame_rate": fps}

    def encode_video(self, frames: np.ndarray, fps: float) -> Latents:
        import torch

        pipe, vae = self.pipe, self.pipe.vae
        with torch.no_grad():
            z = vae.encode(self._pixels(frames)).latent_dist.mode()
        z = pipe._normalize_latents(z, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
        packed = pipe._pack_latents(z, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size)
        return Latents(packed.float(), len(frames), frames.shape[1], frames.shape[2], fps, tuple(z.shape[2:]))

    def schedule(self, steps: int, latents: Latents | None = None):
        import copy

        from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

        sched = copy.deepcopy(self.pipe.scheduler)
        cfg = sched.config
        seq_len = latents.tensor.shape[1] if latents is not None else 256
        mu = calculate_shift(seq_len, cfg.get("base_image_seq_len", 256), cfg.get("max_image_seq_len", 4096),
                             cfg.get("base_shift", 0.5), cfg.get("max_shift", 1.15))
        sched.set_timesteps(sigmas=np.linspace(1.0, 1.0 / steps, steps), mu=mu, device=self.device)
        return sched

    def denoise_once(self, latents: Latents, t, embeds: Embeds, *, grad: bool = False):
        import torch

        pipe, model, x = self.pipe, self.denoiser, latents.tensor
        f, h, w = latents.grid
        rope_scale = (pipe.vae_temporal_compression_ratio / latents.fps, pipe.vae_spatial_compression_ratio,
                      pipe.vae_spatial_compression_ratio)
        with torch.set_grad_enabled(grad):
            return model(hidden_states=x.to(model.dtype), encoder_hidden_states=embeds.embeds,
                         timestep=self.timestep_batch(t, x), encoder_attention_mask=embeds.mask, num_frames=f,
                         height=h, width=w, rope_interpolation_scale=rope_scale, return_dict=False)[0]
