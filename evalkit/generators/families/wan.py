"""Wan 2.1 (``WanPipeline``, ``WanTransformer3DModel``): sequential CFG, BSHD attention, interleaved RoPE."""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError

from ..attention.compute import ControlProcessor, attend
from . import FAMILIES
from .base import Embeds, Latents, ModelFamily


class WanControlProcessor(ControlProcessor):
    """WanAttention self-attention of WanTransformer3DModel (text-to-video only)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        from diffusers.models.transformers.transformer_wan import _get_qkv_projections

        if attn.add_k_proj is not None:
            raise EvalkitError(f"attention layer {self.layer}: image-conditioned Wan (I2V) is not supported")
        query, key, value = _get_qkv_projections(attn, hidden_states, encoder_hidden_states)
        query, key = attn.norm_q(query), attn.norm_k(key)
        query = query.unflatten(2, (attn.heads, -1))
        key = key.unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        if rotary_emb is not None:
            query, key = _wan_rope(query, *rotary_emb), _wan_rope(key, *rotary_emb)
        chunks = self.controller.process(self.layer, query, key, value, layout="BSHD", rope=rotary_emb is not None)
        out = attend(chunks, "BSHD", attention_mask, self.backend,
                     self.parallel_config if encoder_hidden_states is None else None)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def _wan_rope(x, cos, sin):
    # Wan's interleaved rotary embedding (pairs (2i, 2i+1)), as in diffusers' WanAttnProcessor
    import torch

    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)


@FAMILIES.register("wan")
class WanFamily(ModelFamily):
    architecture = "dit"
    cfg = "sequential"   # WanPipeline: the conditional call first, then the unconditional one
    self_attention = r"^blocks\.(\d+)\.attn1$"
    processor = WanControlProcessor

    def decode(self, latents) -> np.ndarray:
        import torch

        vae = self.pipe.vae   # the pipeline's de-normalisation: z · std + mean per latent channel
        shape = (1, vae.config.z_dim, 1, 1, 1)
        mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents.device, vae.dtype)
        std = torch.tensor(vae.config.latents_std).view(shape).to(latents.device, vae.dtype)
        return self._to_uint8(vae.decode(latents.to(vae.dtype) * std + mean, return_dict=False)[0][0])

    def encode_video(self, frames: np.ndarray, fps: float) -> Latents:
        import torch

        vae = self.pipe.vae
        with torch.no_grad():
            z = vae.encode(self._pixels(frames)).latent_dist.mode()
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(z)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(z)
        z = ((z - mean) / std).float()
        return Latents(z, len(frames), frames.shape[1], frames.shape[2], fps, tuple(z.shape[2:]))

    def offset_positional_embedding(self, apply):
        """The (cos, sin) the transformer's ``rope`` module returns."""
        def rope_output(module, args, output):
            return apply(tuple(output))
        return [self.denoiser.rope.register_forward_hook(rope_output)]

    def denoise_once(self, latents: Latents, t, embeds: Embeds, *, grad: bool = False):
        import torch

        model, x = self.denoiser, latents.tensor
        with torch.set_grad_enabled(grad):
            return model(hidden_states=x.to(model.dtype), timestep=self.timestep_batch(t, x),
                         encoder_hidden_states=embeds.embeds, return_dict=False)[0]
