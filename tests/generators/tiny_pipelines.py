"""Tiny random-weight pipelines of the real diffusers classes, saved for the real loading path."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from evalkit.compat import ensure_torchvision

ensure_torchvision()  # before diffusers/transformers import torchvision (CPU torch + CUDA torchvision)


def t5_tokenizer():
    """A T5-style unigram tokenizer built in memory (no files, no network)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<pad>", "</s>", "<unk>"] + [chr(c) for c in range(97, 123)] + ["▁"] + \
        ["▁a", "▁the", "▁dog", "▁cat", "▁car", "▁runs", "▁on", "▁road"]
    vocab = [(p, 0.0 if i < 3 else -float(i)) for i, p in enumerate(pieces)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def tiny_wan(num_layers: int = 2):
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    text = UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                       relative_attention_num_buckets=8))
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
                                        num_layers=num_layers, cross_attn_norm=True,
                                        qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    return WanPipeline(tokenizer=t5_tokenizer(), text_encoder=text, transformer=transformer, vae=vae,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))


def tiny_cogvideox():
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=32, num_layers=2, sample_width=4, sample_height=4, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=16, use_rotary_positional_embeddings=True)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
        temporal_compression_ratio=4)
    text = T5EncoderModel(T5Config(vocab_size=64, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8))
    return CogVideoXPipeline(tokenizer=t5_tokenizer(), text_encoder=text, vae=vae, transformer=transformer,
                             scheduler=CogVideoXDDIMScheduler())


def tiny_ltx():
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                             num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                             num_layers=2, caption_channels=32)
    # 4× temporal and 4× spatial compression
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    text = T5EncoderModel(T5Config(vocab_size=64, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8))
    return LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text,
                       tokenizer=t5_tokenizer(), transformer=transformer)


def save_pipeline(pipe, folder: Path) -> Path:
    pipe.save_pretrained(str(folder))
    return folder


def into_hf_cache(pipe, hf_home: Path, repo_id: str) -> Path:
    """Save ``pipe`` as the cached snapshot of ``repo_id`` under ``$HF_HOME/hub``."""
    rev = hashlib.sha1(repo_id.encode()).hexdigest()
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / rev
    snap.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(snap))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(rev)
    return snap


def moving_square(num_frames: int = 8, size: tuple[int, int] = (32, 32)) -> np.ndarray:
    h, w = size
    frames = np.zeros((num_frames, h, w, 3), np.uint8)
    for t in range(num_frames):
        x = 2 + 2 * t
        frames[t, 8:16, x:x + 8] = (220, 60, 30)
    return frames


def clip_tokenizer():
    """A byte-level CLIP BPE tokenizer with no merges (every byte is a token), built in memory."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)


def _tiny_sd_vae_and_text():
    """A tiny SD-style AutoencoderKL and CLIP text encoder (the U-Net pipelines share them)."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel

    vae = AutoencoderKL(block_out_channels=(8, 8, 8), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                        latent_channels=4, norm_num_groups=4, sample_size=32)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=520, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                        num_attention_heads=4, max_position_embeddings=16, bos_token_id=512,
                                        eos_token_id=513, pad_token_id=513))
    return vae, text


def tiny_unet_t2v():
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel

    torch.manual_seed(0)
    unet = UNet3DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
                                out_channels=4, down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                                up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=4)
    vae, text = _tiny_sd_vae_and_text()
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False)
    return TextToVideoSDPipeline(vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), unet=unet,
                                 scheduler=sched)


# -- VideoCrafter2 / T2V-Turbo-v2 (evalkit's port): official-format checkpoints of a tiny config --
#: the official architecture at small widths (GroupNorm(32) needs multiples of 32): 2 levels, attention
#: at both, 2 heads of 16; a 2-level autoencoder (factor 2); a 3-layer OpenCLIP text tower (2 used)
TINY_VC2_UNET = dict(model_channels=32, channel_mult=[1, 2], attention_resolutions=[1, 2], num_res_blocks=1,
                     num_head_channels=16, context_dim=64, temporal_length=16)
TINY_VC2_DDCONFIG = dict(ch=32, ch_mult=[1, 1], num_res_blocks=1, resolution=16)
TINY_VC2_TEXT = dict(width=64, layers=3, heads=2, vocab_size=520, context_length=16, embed_dim=64)


def tiny_videocrafter2_config() -> dict:
    import copy

    from evalkit.networks.videocrafter2.config import OFFICIAL_CONFIG

    config = copy.deepcopy(OFFICIAL_CONFIG)
    params = config["model"]["params"]
    params["unet_config"]["params"].update(TINY_VC2_UNET)
    params["first_stage_config"]["params"]["ddconfig"].update(TINY_VC2_DDCONFIG)
    params["cond_stage_config"]["params"]["heads"] = TINY_VC2_TEXT["heads"]
    return config


def random_state(shapes: dict, seed: int) -> dict:
    """Random tensors for a key list: norm scales ≈ 1, biases ≈ 0, weights ~ N(0, 1/fan_in)."""
    import math

    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in shapes.items():
        x = torch.randn(shape, generator=g)
        if name == "cond_stage_model.model.logit_scale":
            x = torch.tensor(math.log(1 / 0.07))
        elif len(shape) == 1:
            x = 1.0 + 0.1 * x if name.endswith("weight") else 0.05 * x
        else:
            x = x / math.sqrt(math.prod(shape[1:]))
        out[name] = x
    return out


def tiny_videocrafter2(folder: Path, turbo: bool = False, seed: int = 0) -> Path:
    """A weights folder in the official format: ``model.ckpt`` (Lightning ``state_dict`` with the schedule
    buffers), ``config.yaml``, ``tokenizer/``; with ``turbo`` also T2V-Turbo-v2's ``unet_mg.pt`` (the U-Net)."""
    import torch
    import yaml

    from evalkit.networks.videocrafter2.config import TURBO_V2_UNET, diffusion_config, unet_config
    from evalkit.networks.videocrafter2.keys import official_keys, unet_keys
    from evalkit.networks.videocrafter2.sampler import LVDMDDIMScheduler

    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_videocrafter2_config()
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    state = random_state(official_keys(config, unet_config(config), TINY_VC2_TEXT), seed)
    ddpm = LVDMDDIMScheduler.from_config(diffusion_config(config))
    state.update(alphas_cumprod=ddpm.alphas_cumprod.clone(), scale_arr=torch.tensor(ddpm.scale_arr, dtype=torch.float32))
    torch.save({"state_dict": state, "global_step": 0}, folder / "model.ckpt")
    if turbo:
        torch.save(random_state(unet_keys(unet_config(config, **TURBO_V2_UNET)), seed + 1), folder / "unet_mg.pt")
    clip_tokenizer().save_pretrained(str(folder / "tokenizer"))
    return folder


def tiny_animatediff_parts():
    """The parts of a tiny ``AnimateDiffPipeline``: SD-1.5-style U-Net, VAE, CLIP text, scheduler, adapter."""
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    from diffusers import DDIMScheduler, MotionAdapter, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
                                out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=4)
    adapter = MotionAdapter(block_out_channels=(8, 16), motion_layers_per_block=1, motion_norm_num_groups=4,
                            motion_num_attention_heads=2, motion_max_seq_length=32)
    vae, text = _tiny_sd_vae_and_text()
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False)
    return dict(unet=unet, vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), scheduler=sched), adapter


def tiny_animatediff():
    from diffusers import AnimateDiffPipeline

    parts, adapter = tiny_animatediff_parts()
    return AnimateDiffPipeline(motion_adapter=adapter, **parts)
