"""The official ``model.ckpt`` key list with shapes, derived from the official configuration by the
arithmetic of lvdm's constructors (openaimodel3d.UNetModel, attention.py, the LDM
autoencoder's Encoder/Decoder and OpenCLIP's text transformer).

Written apart from the modules that load these weights, so a test can hold the network
(:mod:`.unet`), diffusers' ``AutoencoderKL`` (through diffusers' LDM converter) and
transformers' ``CLIPTextModel`` (through diffusers' OpenCLIP converter) against it at full
size, and loading can check a checkpoint against it (one error naming what differs).
"""
from __future__ import annotations

from typing import Any

from .config import UNetConfig

Shapes = dict[str, tuple[int, ...]]

UNET, VAE, TEXT = "model.diffusion_model.", "first_stage_model.", "cond_stage_model.model."


def _linear(out: Shapes, name: str, n_in: int, n_out: int, bias: bool = True) -> None:
    out[f"{name}.weight"] = (n_out, n_in)
    if bias:
        out[f"{name}.bias"] = (n_out,)


def _conv(out: Shapes, name: str, n_in: int, n_out: int, kernel: tuple[int, ...]) -> None:
    out[f"{name}.weight"] = (n_out, n_in, *kernel)
    out[f"{name}.bias"] = (n_out,)


def _norm(out: Shapes, name: str, n: int) -> None:
    out[f"{name}.weight"] = (n,)
    out[f"{name}.bias"] = (n,)


# -- U-Net --------------------------------------------------------------------------------
def _resblock(out: Shapes, p: str, n_in: int, n_out: int, emb: int, temporal: bool) -> None:
    _norm(out, f"{p}.in_layers.0", n_in)
    _conv(out, f"{p}.in_layers.2", n_in, n_out, (3, 3))
    _linear(out, f"{p}.emb_layers.1", emb, n_out)
    _norm(out, f"{p}.out_layers.0", n_out)
    _conv(out, f"{p}.out_layers.3", n_out, n_out, (3, 3))
    if n_in != n_out:
        _conv(out, f"{p}.skip_connection", n_in, n_out, (1, 1))
    if temporal:
        for i, conv in ((1, 2), (2, 3), (3, 3), (4, 3)):   # GroupNorm, SiLU, [Dropout,] Conv3d
            _norm(out, f"{p}.temopral_conv.conv{i}.0", n_out)
            _conv(out, f"{p}.temopral_conv.conv{i}.{conv}", n_out, n_out, (3, 1, 1))


def _block(out: Shapes, p: str, dim: int, heads: int, d_head: int, context: int | None) -> None:
    inner = heads * d_head
    for attn, ctx in (("attn1", dim), ("attn2", context or dim)):
        _linear(out, f"{p}.{attn}.to_q", dim, inner, bias=False)
        _linear(out, f"{p}.{attn}.to_k", ctx, inner, bias=False)
        _linear(out, f"{p}.{attn}.to_v", ctx, inner, bias=False)
        _linear(out, f"{p}.{attn}.to_out.0", inner, dim)
    _linear(out, f"{p}.ff.net.0.proj", dim, dim * 8)   # GEGLU: 2 × (4·dim)
    _linear(out, f"{p}.ff.net.2", dim * 4, dim)
    for n in (1, 2, 3):
        _norm(out, f"{p}.norm{n}", dim)


def _transformer(out: Shapes, p: str, ch: int, heads: int, d_head: int, depth: int, context: int | None,
                 linear: bool, conv_kernel: tuple[int, ...]) -> None:
    inner = heads * d_head
    _norm(out, f"{p}.norm", ch)
    for name, n_in, n_out in (("proj_in", ch, inner), ("proj_out", inner, ch)):
        if linear:
            _linear(out, f"{p}.{name}", n_in, n_out)
        else:
            _conv(out, f"{p}.{name}", n_in, n_out, conv_kernel)
    for d in range(depth):
        _block(out, f"{p}.transformer_blocks.{d}", inner, heads, d_head, context)


def unet_keys(cfg: UNetConfig) -> Shapes:
    """``model.diffusion_model.*`` of the official checkpoint (without the prefix)."""
    out: Shapes = {}
    mc, emb, hc = cfg.model_channels, cfg.model_channels * 4, cfg.num_head_channels
    _linear(out, "time_embed.0", mc, emb)
    _linear(out, "time_embed.2", emb, emb)
    if cfg.fps_cond:
        _linear(out, "fps_embedding.0", mc, emb)
        _linear(out, "fps_embedding.2", emb, emb)
    if cfg.time_cond_proj_dim is not None:
        _linear(out, "time_cond_proj", cfg.time_cond_proj_dim, mc, bias=False)
    if cfg.motion_cond_proj_dim is not None:
        _linear(out, "motion_cond_proj", cfg.motion_cond_proj_dim, mc, bias=False)
        _linear(out, "combine_proj", 2 * mc, mc, bias=False)
    _conv(out, "input_blocks.0.0", cfg.in_channels, mc, (3, 3))
    if cfg.addition_attention:
        _transformer(out, "init_attn.0", mc, 8, hc, cfg.transformer_depth, None, False, (1,))

    def attention(p: str, ch: int) -> None:
        _transformer(out, f"{p}.1", ch, ch // hc, hc, cfg.transformer_depth, cfg.context_dim, cfg.use_linear, (1, 1))
        if cfg.temporal_attention:
            _transformer(out, f"{p}.2", ch, ch // hc, hc, 1, None, cfg.use_linear, (1,))

    widths = [mc * m for m in cfg.channel_mult]
    skips, ch, idx = [mc], mc, 1
    for level, width in enumerate(widths):
        ds = 2 ** level
        for _ in range(cfg.num_res_blocks):
            _resblock(out, f"input_blocks.{idx}.0", ch, width, emb, cfg.temporal_conv)
            ch = width
            if ds in cfg.attention_resolutions:
                attention(f"input_blocks.{idx}", ch)
            skips.append(ch)
            idx += 1
        if level < len(widths) - 1:
            _conv(out, f"input_blocks.{idx}.0.op", ch, ch, (3, 3))
            skips.append(ch)
            idx += 1
    _resblock(out, "middle_block.0", ch, ch, emb, cfg.temporal_conv)
    attention("middle_block", ch)
    _resblock(out, f"middle_block.{3 if cfg.temporal_attention else 2}", ch, ch, emb, cfg.temporal_conv)
    idx = 0
    for level in reversed(range(len(widths))):
        ds, width = 2 ** level, widths[level]
        for i in range(cfg.num_res_blocks + 1):
            _resblock(out, f"output_blocks.{idx}.0", ch + skips.pop(), width, emb, cfg.temporal_conv)
            ch, n_layers = width, 1
            if ds in cfg.attention_resolutions:
                attention(f"output_blocks.{idx}", ch)
                n_layers += 2 if cfg.temporal_attention else 1
            if level and i == cfg.num_res_blocks:
                _conv(out, f"output_blocks.{idx}.{n_layers}.conv", ch, ch, (3, 3))
            idx += 1
    _norm(out, "out.0", mc)
    _conv(out, "out.2", mc, cfg.out_channels, (3, 3))
    return out


# -- autoencoder (LDM AutoencoderKL) ----------------------------------------------------------
def _vae_resnet(out: Shapes, p: str, n_in: int, n_out: int) -> None:
    _norm(out, f"{p}.norm1", n_in)
    _conv(out, f"{p}.conv1", n_in, n_out, (3, 3))
    _norm(out, f"{p}.norm2", n_out)
    _conv(out, f"{p}.conv2", n_out, n_out, (3, 3))
    if n_in != n_out:
        _conv(out, f"{p}.nin_shortcut", n_in, n_out, (1, 1))


def _vae_mid(out: Shapes, p: str, ch: int) -> None:
    _vae_resnet(out, f"{p}.block_1", ch, ch)
    _norm(out, f"{p}.attn_1.norm", ch)
    for name in ("q", "k", "v", "proj_out"):
        _conv(out, f"{p}.attn_1.{name}", ch, ch, (1, 1))
    _vae_resnet(out, f"{p}.block_2", ch, ch)


def vae_keys(params: dict[str, Any]) -> Shapes:
    """``first_stage_model.*`` (without the prefix) for ``first_stage_config.params``."""
    dd = params["ddconfig"]
    out: Shapes = {}
    ch, mult, nrb, z = dd["ch"], list(dd["ch_mult"]), dd["num_res_blocks"], dd["z_channels"]
    if dd.get("attn_resolutions"):
        raise ValueError("VideoCrafter2's autoencoder has no attention outside the middle blocks")
    _conv(out, "encoder.conv_in", dd["in_channels"], ch, (3, 3))
    n_in = ch
    for i, m in enumerate(mult):
        for j in range(nrb):
            _vae_resnet(out, f"encoder.down.{i}.block.{j}", n_in, ch * m)
            n_in = ch * m
        if i < len(mult) - 1:
            _conv(out, f"encoder.down.{i}.downsample.conv", n_in, n_in, (3, 3))
    _vae_mid(out, "encoder.mid", n_in)
    _norm(out, "encoder.norm_out", n_in)
    _conv(out, "encoder.conv_out", n_in, 2 * z if dd["double_z"] else z, (3, 3))
    _conv(out, "quant_conv", 2 * z, 2 * params["embed_dim"], (1, 1))
    _conv(out, "post_quant_conv", params["embed_dim"], z, (1, 1))
    n_in = ch * mult[-1]
    _conv(out, "decoder.conv_in", z, n_in, (3, 3))
    _vae_mid(out, "decoder.mid", n_in)
    for i in reversed(range(len(mult))):
        for j in range(nrb + 1):
            _vae_resnet(out, f"decoder.up.{i}.block.{j}", n_in, ch * mult[i])
            n_in = ch * mult[i]
        if i > 0:
            _conv(out, f"decoder.up.{i}.upsample.conv", n_in, n_in, (3, 3))
    _norm(out, "decoder.norm_out", n_in)
    _conv(out, "decoder.conv_out", n_in, dd["out_ch"], (3, 3))
    return out


# -- text encoder (OpenCLIP text tower, visual tower deleted) ----------------------------------
#: OpenCLIP ViT-H-14's text tower (open_clip model_configs/ViT-H-14.json)
VIT_H_14_TEXT = {"width": 1024, "layers": 24, "heads": 16, "vocab_size": 49408, "context_length": 77, "embed_dim": 1024}


def text_keys(width: int, layers: int, vocab_size: int, context_length: int, embed_dim: int) -> Shapes:
    """``cond_stage_model.model.*`` (without the prefix)."""
    out: Shapes = {"positional_embedding": (context_length, width), "text_projection": (width, embed_dim),
                   "logit_scale": (), "token_embedding.weight": (vocab_size, width)}
    for i in range(layers):
        p = f"transformer.resblocks.{i}"
        out[f"{p}.attn.in_proj_weight"] = (3 * width, width)
        out[f"{p}.attn.in_proj_bias"] = (3 * width,)
        _linear(out, f"{p}.attn.out_proj", width, width)
        _norm(out, f"{p}.ln_1", width)
        _norm(out, f"{p}.ln_2", width)
        _linear(out, f"{p}.mlp.c_fc", width, 4 * width)
        _linear(out, f"{p}.mlp.c_proj", 4 * width, width)
    _norm(out, "ln_final", width)
    return out


def official_keys(config: dict[str, Any], unet: UNetConfig, text: dict[str, int] = VIT_H_14_TEXT) -> Shapes:
    """Every network tensor of the official ``model.ckpt`` (schedule buffers aside), with prefixes."""
    params = config["model"]["params"]
    t = {k: text[k] for k in ("width", "layers", "vocab_size", "context_length", "embed_dim")}
    return {**{UNET + k: v for k, v in unet_keys(unet).items()},
            **{VAE + k: v for k, v in vae_keys(params["first_stage_config"]["params"]).items()},
            **{TEXT + k: v for k, v in text_keys(**t).items()}}
