"""VideoCrafter2's denoiser: lvdm ``UNetModel`` (lvdm/modules/networks/openaimodel3d.py of
AILab-CVC/VideoCrafter), rewritten here with the official parameter names, so the U-Net part
of the official ``model.ckpt`` (prefix ``model.diffusion_model.``) loads as it is — including
the official spelling ``temopral_conv`` of the res-blocks' temporal convolutions.

Layout: frames are rows, ``(b·t, c, h, w)``, everywhere but the temporal layers. Each level has
res-blocks with a temporal convolution, then (at the attention resolutions) a spatial and a
temporal transformer; a temporal transformer (``init_attn``) follows the input convolution;
the timestep embedding gets the frame-rate embedding added (``fps_cond``). T2V-Turbo adds a
guidance-scale embedding (``time_cond_proj``) and, for v2, a motion-guidance one
(``motion_cond_proj``, ``combine_proj``) to the sinusoidal timestep features.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .attention import Attention, SpatialTransformer, TemporalTransformer
from .config import UNetConfig


class GroupNorm32(nn.GroupNorm):
    """lvdm ``normalization``: 32 groups, computed in float32 (also the affine parameters: a
    bf16/fp16 U-Net keeps float32 normalisation, and torch refuses float input with bf16 weights)."""

    def forward(self, x):
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return nn.functional.group_norm(x.float(), self.num_groups, weight, bias, self.eps).type(x.dtype)


def timestep_embedding(t, dim: int, max_period: float = 10000.0):
    """lvdm's sinusoidal features: [cos, sin] of t·10000^(-i/half), float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1) if dim % 2 else emb


def _to_frames(x, b: int):
    """(b·t, c, h, w) -> (b, c, t, h, w)"""
    return x.reshape(b, -1, *x.shape[1:]).transpose(1, 2)


def _to_rows(x):
    """(b, c, t, h, w) -> (b·t, c, h, w)"""
    return x.transpose(1, 2).flatten(0, 1)


class TemporalConvBlock(nn.Module):
    """Four (3,1,1) convolutions over time with a residual (ModelScope's block, as in lvdm)."""

    def __init__(self, channels: int, dropout: float = 0.1):
        super().__init__()
        conv = lambda: nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0))  # noqa: E731
        self.conv1 = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), conv())
        self.conv2 = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), nn.Dropout(dropout), conv())
        self.conv3 = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), nn.Dropout(dropout), conv())
        self.conv4 = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), nn.Dropout(dropout), conv())

    def forward(self, x):
        return self.conv4(self.conv3(self.conv2(self.conv1(x)))) + x


class ResBlock(nn.Module):
    def __init__(self, channels: int, emb_channels: int, out_channels: int | None = None,
                 temporal_conv: bool = False):
        super().__init__()
        out = out_channels or channels
        self.in_layers = nn.Sequential(GroupNorm32(32, channels), nn.SiLU(), nn.Conv2d(channels, out, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out))
        self.out_layers = nn.Sequential(GroupNorm32(32, out), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out, out, 3, padding=1))
        self.skip_connection = nn.Identity() if out == channels else nn.Conv2d(channels, out, 1)
        if temporal_conv:
            self.temopral_conv = TemporalConvBlock(out)   # sic: the official parameter name

    def forward(self, x, emb, batch_size: int):
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).type(h.dtype)[..., None, None]
        h = self.skip_connection(x) + self.out_layers(h)
        if hasattr(self, "temopral_conv"):
            h = _to_rows(self.temopral_conv(_to_frames(h, batch_size)))
        return h


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))


class TimestepEmbedSequential(nn.Sequential):
    """Passes each child what it takes: res-blocks the embedding, spatial transformers the text,
    temporal transformers the clip as (b, c, t, h, w)."""

    def forward(self, x, emb, context, batch_size: int):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb, batch_size)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            elif isinstance(layer, TemporalTransformer):
                x = _to_rows(layer(_to_frames(x, batch_size)))
            else:
                x = layer(x)
        return x


class UNetModel(nn.Module):
    def __init__(self, config: UNetConfig):
        super().__init__()
        cfg, ch = config, config.model_channels
        self.config = config
        emb_dim = ch * 4
        mlp = lambda n_in: nn.Sequential(nn.Linear(n_in, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))  # noqa: E731
        self.time_embed = mlp(ch)
        if cfg.fps_cond:
            self.fps_embedding = mlp(ch)
        if cfg.time_cond_proj_dim is not None:
            self.time_cond_proj = nn.Linear(cfg.time_cond_proj_dim, ch, bias=False)
        if cfg.motion_cond_proj_dim is not None:
            self.motion_cond_proj = nn.Linear(cfg.motion_cond_proj_dim, ch, bias=False)
            self.combine_proj = nn.Linear(ch * 2, ch, bias=False)
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))])
        if cfg.addition_attention:
            # the official init_attn: 8 heads of num_head_channels, 1x1-conv projections
            self.init_attn = TimestepEmbedSequential(
                TemporalTransformer(ch, 8, cfg.num_head_channels, cfg.transformer_depth, use_linear=False))
        chans, ds = [ch], 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers = [ResBlock(ch, emb_dim, mult * cfg.model_channels, cfg.temporal_conv)]
                ch = mult * cfg.model_channels
                if ds in cfg.attention_resolutions:
                    layers += self._transformers(ch)
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                chans.append(ch)
            if level != len(cfg.channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(Downsample(ch)))
                chans.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(ResBlock(ch, emb_dim, temporal_conv=cfg.temporal_conv),
                                                    *self._transformers(ch),
                                                    ResBlock(ch, emb_dim, temporal_conv=cfg.temporal_conv))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), emb_dim, mult * cfg.model_channels, cfg.temporal_conv)]
                ch = mult * cfg.model_channels
                if ds in cfg.attention_resolutions:
                    layers += self._transformers(ch)
                if level and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(32, ch), nn.SiLU(), nn.Conv2d(cfg.model_channels, cfg.out_channels, 3,
                                                                          padding=1))

    def _transformers(self, ch: int) -> list[nn.Module]:
        cfg = self.config
        heads = ch // cfg.num_head_channels
        layers = [SpatialTransformer(ch, heads, cfg.num_head_channels, cfg.transformer_depth, cfg.context_dim,
                                     cfg.use_linear)]
        if cfg.temporal_attention:
            layers.append(TemporalTransformer(ch, heads, cfg.num_head_channels, 1, cfg.use_linear))
        return layers

    # -- diffusers-style attention-processor access (evalkit's attention control uses it) --
    @property
    def attn_processors(self) -> dict[str, Any]:
        return {f"{name}.processor": m.processor for name, m in self.named_modules() if isinstance(m, Attention)}

    def set_attn_processor(self, processor) -> None:
        for name, m in self.named_modules():
            if isinstance(m, Attention):
                m.processor = processor[f"{name}.processor"] if isinstance(processor, dict) else processor

    @property
    def dtype(self) -> torch.dtype:
        return self.time_embed[0].weight.dtype

    # -- the forward pass ----------------------------------------------------------------
    def embedding(self, timesteps, fps, timestep_cond=None, motion_cond=None):
        """The (b, 4·model_channels) conditioning: timestep (+ Turbo's guidance / motion
        embeddings on the sinusoidal features) through ``time_embed``, plus the frame rate's."""
        t_emb = timestep_embedding(timesteps, self.config.model_channels).to(self.dtype)
        if timestep_cond is not None:
            cond = self.time_cond_proj(timestep_cond.to(self.dtype))
            if motion_cond is not None:
                motion = self.motion_cond_proj(motion_cond.to(self.dtype))
                cond = self.combine_proj(torch.cat([cond, motion], dim=1))
            t_emb = t_emb + cond
        emb = self.time_embed(t_emb)
        if self.config.fps_cond:
            fps = torch.as_tensor(fps, device=timesteps.device).expand(timesteps.shape[0])
            emb = emb + self.fps_embedding(timestep_embedding(fps, self.config.model_channels).to(self.dtype))
        return emb

    def forward(self, x, timesteps, context, fps=16, timestep_cond=None, motion_cond=None):
        """``x`` (b, c, t, h, w), ``timesteps`` (b,), ``context`` (b, tokens, context_dim) -> ε (b, c, t, h, w)."""
        b, _, t, _, _ = x.shape
        timesteps = torch.as_tensor(timesteps, device=x.device).reshape(-1).expand(b)
        emb = self.embedding(timesteps, fps, timestep_cond, motion_cond).repeat_interleave(t, dim=0)
        context = context.to(self.dtype).repeat_interleave(t, dim=0)
        h, hs = _to_rows(x).to(self.dtype), []
        for i, block in enumerate(self.input_blocks):
            h = block(h, emb, context, b)
            if i == 0 and self.config.addition_attention:
                h = self.init_attn(h, emb, context, b)
            hs.append(h)
        h = self.middle_block(h, emb, context, b)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb, context, b)
        return _to_frames(self.out(h), b).to(x.dtype)
