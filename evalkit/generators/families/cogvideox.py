"""CogVideoX (``CogVideoXPipeline``): joint text–video attention (text tokens first), batched CFG,
latents laid out [B, F, C, H, W]."""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError

from ..attention.compute import ControlProcessor, attend, split_heads_bhsd
from . import FAMILIES
from .base import Embeds, Latents, ModelFamily


class CogVideoXControlProcessor(ControlProcessor):
    """CogVideoX joint attention: only the video tokens (after the text ones) are acted on."""

    def __call__(self, attn, hidden_states, encoder_hidden_states, attention_mask=None, image_rotary_emb=None):
        import torch
        from diffusers.models.embeddings import apply_rotary_emb

        text_len = encoder_hidden_states.size(1)
        x = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        b, n, _ = x.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n, b)
            attention_mask = attention_mask.view(b, attn.heads, -1, attention_mask.shape[-1])
        query, key, value = attn.to_q(x), attn.to_k(x), attn.to_v(x)
        query, key, value, head_dim = split_heads_bhsd(attn, query, key, value)
        if image_rotary_emb is not None:
            query[:, :, text_len:] = apply_rotary_emb(query[:, :, text_len:], image_rotary_emb)
            if not attn.is_cross_attention:
                key[:, :, text_len:] = apply_rotary_emb(key[:, :, text_len:], image_rotary_emb)
        chunks = self.controller.process(self.layer, query, key, value, layout="BHSD", video_start=text_len,
                                         rope=image_rotary_emb is not None)
        out = attend(chunks, "BHSD", attention_mask, self.backend)
        out = out.reshape(b, -1, attn.heads * head_dim)
        out = attn.to_out[1](attn.to_out[0](out))
        enc, out = out.split([text_len, out.size(1) - text_len], dim=1)
        return out, enc


@FAMILIES.register("cogvideox")
class CogVideoXFamily(ModelFamily):
    architecture = "dit"
    self_attention = r"^transformer_blocks\.(\d+)\.attn1$"
    processor = CogVideoXControlProcessor

    def decode(self, latents) -> np.ndarray:
        # the pipeline decodes itself (TextToVideoSD: [B, C, F, h, w]; CogVideoX: [B, F, C, h, w])
        return self._to_uint8(self.pipe.decode_latents(latents.to(self.pipe.vae.dtype))[0])

    def encode_video(self, frames: np.ndarray, fps: float) -> Latents:
        import torch

        vae = self.pipe.vae
        with torch.no_grad():
            z = vae.encode(self._pixels(frames)).latent_dist.mode() * vae.config.scaling_factor
        grid = tuple(z.shape[2:])
        return Latents(z.permute(0, 2, 1, 3, 4).contiguous(), len(frames), frames.shape[1], frames.shape[2],
                       fps, grid)

    def decode_video(self, latents):
        import torch

        with torch.no_grad():
            video = self.pipe.decode_latents(latents)
        return self.pipe.video_processor.postprocess_video(video=video, output_type="np")

    def rotary_embeddings(self, height: int, width: int, latent_frames: int):
        if not self.denoiser.config.use_rotary_positional_embeddings:
            return None
        return self.pipe._prepare_rotary_positional_embeddings(height, width, latent_frames, self.device)

    def offset_positional_embedding(self, apply):
        """CogVideoX-5B style (rotary): the RoPE (cos, sin) passed as ``image_rotary_emb`` (every block
        applies it to Q and K); CogVideoX-2B style: the 3D sin-cos embedding ``patch_embed`` adds to
        the video tokens."""
        model = self.denoiser
        if model.config.use_rotary_positional_embeddings:
            def rope_kwarg(module, args, kwargs):
                rope = kwargs.get("image_rotary_emb")
                if rope is None:
                    raise EvalkitError("CogVideoX: the transformer was called without image_rotary_emb")
                return args, {**kwargs, "image_rotary_emb": apply(tuple(rope))}
            return [model.register_forward_pre_hook(rope_kwarg, with_kwargs=True)]

        def add_to_video_tokens(module, args, output):
            import torch

            text_len = args[0].shape[1]   # patch_embed(text_embeds, image_embeds): text tokens first
            part = output[:, text_len:]
            video = apply((part,), batched=True)[0]
            if video is part:   # ρ₀: the output unchanged
                return output
            return torch.cat([output[:, :text_len], video], dim=1)
        return [model.patch_embed.register_forward_hook(add_to_video_tokens)]

    def denoise_once(self, latents: Latents, t, embeds: Embeds, *, grad: bool = False):
        import torch

        pipe, model, x = self.pipe, self.denoiser, latents.tensor
        with torch.set_grad_enabled(grad):
            if hasattr(pipe.scheduler, "scale_model_input"):
                x = pipe.scheduler.scale_model_input(x, t)
            rope = self.rotary_embeddings(latents.height, latents.width, x.size(1))
            return model(hidden_states=x.to(model.dtype), encoder_hidden_states=embeds.embeds,
                         timestep=self.timestep_batch(t, x), image_rotary_emb=rope, return_dict=False)[0]
