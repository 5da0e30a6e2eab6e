"""Text-to-video pipelines of the VideoCrafter2 family, called like a diffusers pipeline
(``prompt_embeds``, ``negative_prompt_embeds``, ``num_frames``, ``num_inference_steps``,
``guidance_scale``, ``generator``, ``latents``, ``output_type``, ``callback_on_step_end``;
the result has ``.frames``).

- :class:`VideoCrafter2Pipeline`: the official ``scripts/run_text2video.sh`` setting — DDIM
  with η = 1 over 50 steps, CFG 12 as two U-Net calls per step (conditional first, as
  ``p_sample_ddim``), the empty prompt as unconditional text, frame-rate condition 28,
  per-frame VAE decoding (``decode_first_stage_2DAE``), frames clamped to [-1, 1].
- :class:`T2VTurboV2Pipeline`: T2V-Turbo-v2 (app.py of Ji4chenLi/t2v-turbo, ``--version v2``):
  the v2 U-Net (``unet_mg.pt``) on VideoCrafter2's autoencoder and text encoder, the
  consistency sampler, one U-Net call per step with the guidance scale as an embedding (no
  CFG), frame-rate condition 8; the app's v2 path passes no motion condition (``motion_gs``
  None); the Replicate demo (predict.py) passes one (set ``motion_gs``/``motion_percentage``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evalkit.errors import MissingWeightsError

from . import checkpoint as ckpt
from .config import TURBO_V2_UNET, diffusion_config, load_config, unet_config
from .keys import UNET, official_keys, unet_keys
from .sampler import LVDMDDIMScheduler, TurboLCMScheduler
from .unet import UNetModel

#: where the text tokenizer comes from when the weights folder has no ``tokenizer/``: OpenCLIP
#: ViT-H-14's (CLIP's BPE; the pad token "!" = id 0, as open_clip.tokenize pads with zeros)
TOKENIZER_ID = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
VIDEOCRAFTER2_ID = "VideoCrafter/VideoCrafter2"


@dataclass
class Output:
    frames: Any


def _need(path: Path, what: str, model_id: str) -> Path:
    if not path.is_file():
        raise MissingWeightsError(
            f"{what}: {path.name} not found in {path.parent}. Download {model_id}/{path.name} from the "
            f"Hugging Face hub (`huggingface-cli download {model_id} {path.name}`) into that folder, or pass "
            f"model_path= a folder holding it.")
    return path


def load_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    from evalkit.weights import resolve_hf

    local = folder / "tokenizer"
    path = local if local.is_dir() else resolve_hf(TOKENIZER_ID,
                                                   what="VideoCrafter2 text tokenizer (OpenCLIP ViT-H-14)")
    return CLIPTokenizer.from_pretrained(str(path), pad_token="!")


class VideoCrafter2Pipeline:
    fps_condition: float = 28.0      # scripts/run_text2video.sh: --fps 28

    def __init__(self, unet: UNetModel, vae, text_encoder, tokenizer, scheduler, scale_factor: float = 0.18215):
        self.unet, self.vae, self.text_encoder, self.tokenizer = unet, vae, text_encoder, tokenizer
        self.scheduler, self.scale_factor = scheduler, float(scale_factor)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.device = torch.device("cpu")

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path, torch_dtype=None):
        """A folder holding the official ``model.ckpt`` (and optionally ``config.yaml``, ``tokenizer/``)."""
        folder = Path(path)
        config = load_config(folder)
        state = ckpt.read_state_dict(_need(folder / "model.ckpt", "VideoCrafter2", VIDEOCRAFTER2_ID))
        unet = _load_unet(unet_config(config), ckpt.strip(state, UNET), f"{folder / 'model.ckpt'} (U-Net)")
        return cls._assemble(folder, config, state, unet, torch_dtype)

    @classmethod
    def _assemble(cls, folder: Path, config, state, unet: UNetModel, torch_dtype):
        dims = ckpt.text_dims(state, config["model"]["params"]["cond_stage_config"]["params"].get("heads"))
        base = {k: v for k, v in official_keys(config, unet_config(config), dims).items() if not k.startswith(UNET)}
        ckpt.check_keys(state, base, what=f"{folder / 'model.ckpt'} (autoencoder, text encoder)")
        diff = diffusion_config(config)
        ddpm = LVDMDDIMScheduler.from_config(diff)   # the training schedule the checkpoint's buffers hold
        ckpt.check_schedule(state, f"{folder / 'model.ckpt'}", alphas_cumprod=ddpm.alphas_cumprod.numpy(),
                            scale_arr=ddpm.scale_arr if diff.use_scale else None)
        pipe = cls(unet, ckpt.build_vae(config, state), ckpt.build_text_encoder(state, dims), load_tokenizer(folder),
                   cls.make_scheduler(diff), diff.scale_factor)
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):
            module.eval().requires_grad_(False)
            if torch_dtype is not None:
                module.to(torch_dtype)
        return pipe

    @staticmethod
    def make_scheduler(diff):
        return LVDMDDIMScheduler.from_config(diff)

    def to(self, device):
        self.device = torch.device(device)
        for module in (self.unet, self.vae, self.text_encoder):
            if module is not None:   # (benchmarks build pipelines without a text encoder)
                module.to(self.device)
        return self

    def set_progress_bar_config(self, **kwargs) -> None:
        """(diffusers' interface; this pipeline draws no progress bar)"""

    # -- the parts ---------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompt: str):
        """(1, 77, 1024) OpenCLIP penultimate-layer features (FrozenOpenCLIPEmbedder)."""
        n = self.text_encoder.config.max_position_embeddings
        ids = self.tokenizer([prompt], padding="max_length", max_length=n, truncation=True, return_tensors="pt")
        return self.text_encoder(ids.input_ids.to(self.device)).last_hidden_state

    def denoise(self, latents, t, context, fps: float | None = None):
        """One conditional U-Net call: ε for (1, C, F, h, w) latents at timestep ``t``."""
        return self.unet(latents, t, context, fps=self.fps_condition if fps is None else fps)

    def guided(self, latents, t, cond, uncond, guidance_scale: float, fps):
        if uncond is None or guidance_scale == 1.0:
            return self.denoise(latents, t, cond, fps)
        e_cond = self.denoise(latents, t, cond, fps)
        e_uncond = self.denoise(latents, t, uncond.expand(cond.shape[0], *uncond.shape[1:]), fps)
        return e_uncond + guidance_scale * (e_cond - e_uncond)

    @torch.no_grad()
    def decode(self, latents) -> np.ndarray:
        """(B, C, F, h, w) latents -> (B, F, H, W, 3) in [0, 1], frame by frame (decode_first_stage_2DAE)."""
        videos = []
        for z in latents.transpose(1, 2) / self.scale_factor:   # (F, C, h, w) per video
            frames = torch.cat([self.vae.decode(z[i:i + 1].to(self.vae.dtype)).sample for i in range(len(z))])
            videos.append(((frames.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1))
        return torch.stack(videos).cpu().numpy()

    def final(self, sample, pred_x0):
        return sample

    # -- sampling --------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, prompt_embeds, negative_prompt_embeds=None, *, height: int = 320, width: int = 512,
                 num_frames: int = 16, num_inference_steps: int = 50, guidance_scale: float = 12.0, generator=None,
                 latents=None, output_type: str = "np", fps: float | None = None, callback_on_step_end=None,
                 **unused):
        f = self.vae_scale_factor   # one video per row of prompt_embeds
        shape = (prompt_embeds.shape[0], self.unet.config.in_channels, int(num_frames), int(height) // f,
                 int(width) // f)
        if latents is None:
            gen_device = generator.device if generator is not None else self.device
            latents = torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float32).to(self.device)
        x = latents.to(self.device, torch.float32) * self.scheduler.init_noise_sigma
        self.scheduler.set_timesteps(int(num_inference_steps), device=self.device)
        pred_x0 = x
        for i, t in enumerate(self.scheduler.timesteps):
            eps = self.guided(x, t, prompt_embeds, negative_prompt_embeds, float(guidance_scale), fps).float()
            x, pred_x0 = self.scheduler.step(eps, t, x, generator=generator)
            if callback_on_step_end is not None:
                callback_on_step_end(self, i, t, {})
        out = self.final(x, pred_x0)
        return Output(out if output_type == "latent" else self.decode(out))


class T2VTurboV2Pipeline(VideoCrafter2Pipeline):
    fps_condition: float = 8.0           # app.py: the FPS slider's default
    motion_gs: float | None = None       # app.py --version v2: no motion condition
    motion_percentage: float = 0.3       # used only with motion_gs (predict.py: 0.05 and 0.5)
    weights = "unet_mg.pt"
    hub_id = "jiachenli-ucsb/T2V-Turbo-v2"

    @classmethod
    def from_pretrained(cls, path, torch_dtype=None):
        """A folder holding ``unet_mg.pt``; VideoCrafter2's ``model.ckpt`` (autoencoder, text encoder)
        from the same folder if it is there, else from the VideoCrafter2 weights."""
        from evalkit.weights import resolve_hf

        folder = Path(path)
        unet_state = ckpt.read_state_dict(_need(folder / cls.weights, "T2V-Turbo-v2", cls.hub_id))
        base = folder if (folder / "model.ckpt").is_file() else resolve_hf(
            VIDEOCRAFTER2_ID, what="T2V-Turbo-v2's base model VideoCrafter2")
        config = load_config(folder if (folder / "config.yaml").is_file() else base)
        state = ckpt.read_state_dict(_need(base / "model.ckpt", "VideoCrafter2", VIDEOCRAFTER2_ID))
        unet = _load_unet(unet_config(config, **TURBO_V2_UNET), unet_state, f"{folder / cls.weights}")
        return cls._assemble(base, config, state, unet, torch_dtype)

    @staticmethod
    def make_scheduler(diff):
        return TurboLCMScheduler(diff.linear_start, diff.linear_end, diff.timesteps, lcm_origin_steps=200)

    @staticmethod
    def scale_embedding(w, dim: int = 256):
        """get_w_embedding: sinusoidal features [sin, cos] of 1000·w (VDM), frequencies /(half-1)."""
        half = dim // 2
        freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(np.log(10000.0) / (half - 1)))
        args = torch.as_tensor(w, dtype=torch.float32).reshape(-1)[:, None] * 1000.0 * freqs[None]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=1)

    def guided(self, latents, t, cond, uncond, guidance_scale: float, fps):
        return self.denoise(latents, t, cond, fps, guidance_scale=guidance_scale)

    def denoise(self, latents, t, context, fps: float | None = None, guidance_scale: float = 7.5):
        w = self.scale_embedding(guidance_scale).to(latents.device)
        motion = None
        if self.motion_gs is not None:
            on = float(t) >= self.scheduler.num_train_timesteps * (1 - self.motion_percentage)
            gs = self.motion_gs if on else 0.0
            motion = self.scale_embedding(gs).to(latents.device)
        return self.unet(latents, t, context, fps=self.fps_condition if fps is None else fps, timestep_cond=w,
                         motion_cond=motion)

    def final(self, sample, pred_x0):
        return pred_x0   # the consistency sampler's output is the last x0 prediction


def _load_unet(config, state: dict, what: str) -> UNetModel:
    ckpt.check_keys(state, unet_keys(config), what=what, prefixes=("",))
    with torch.device("meta"):
        unet = UNetModel(config)
    unet.load_state_dict(state, strict=True, assign=True)
    return unet
