"""The model-family contract: everything that differs between kinds of diffusers denoisers.

A family class (one file each, registered in :data:`evalkit.generators.families.FAMILIES`)
owns, for one pipeline kind: prompt encoding and the prompt arguments of a pipeline call, the
step-callback convention, the CFG convention, VAE encoding of a source clip to the layout the
denoiser takes, the schedule, one denoiser call, one scheduler step, its attention control
processor and the naming of its controllable self-attention layers. Generators and methods
call these and never branch on the family's name.

An instance is bound to one loaded pipeline: ``WanFamily(pipe, device)``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Iterator

import numpy as np

from evalkit.errors import EvalkitError

from ..attention.compute import ControlProcessor


@dataclass(frozen=True)
class Embeds:
    """Prompt embeddings of one prompt (and its attention mask where the family uses one)."""
    embeds: Any
    mask: Any = None


@dataclass(frozen=True)
class Latents:
    """Video latents in the layout the family's denoiser takes, with what its call needs to know
    about the clip they encode (sizes in pixels, frame rate, the unpacked latent grid)."""
    tensor: Any
    num_frames: int
    height: int
    width: int
    fps: float
    grid: tuple[int, int, int]   # latent (frames, height, width)

    def with_tensor(self, tensor) -> "Latents":
        """The same clip geometry around another tensor (e.g. the latent noised to a step)."""
        return replace(self, tensor=tensor)


class ModelFamily:
    registry_name: ClassVar[str] = ""
    #: "dit" or "unet": methods that follow a paper's per-architecture settings read it
    architecture: ClassVar[str]
    #: CFG convention of the pipeline: "batched" ([uncond, cond] rows in one call) or "sequential"
    cfg: ClassVar[str] = "batched"
    #: regex on layer paths (``attn_processors`` keys without ".processor") of the layers to control
    self_attention: ClassVar[str]
    #: the family's control processor (evalkit.generators.attention.compute.ControlProcessor)
    processor: ClassVar[type[ControlProcessor]]

    def __init__(self, pipe, device: str) -> None:
        self.pipe = pipe
        self.device = device

    @property
    def denoiser(self):
        return self.pipe.transformer

    # -- running the pipeline ----------------------------------------------------------
    def encode_prompt(self, prompt: str) -> Embeds:
        emb, _ = self.pipe.encode_prompt(prompt, None, False, device=self.device)
        return Embeds(emb)

    def prompt_kwargs(self, cond: Embeds, negative: Embeds | None) -> dict[str, Any]:
        """The prompt arguments of a pipeline call (``negative`` None: no CFG)."""
        kwargs: dict[str, Any] = {"prompt_embeds": cond.embeds}
        if negative is not None:
            kwargs["negative_prompt_embeds"] = negative.embeds
        return kwargs

    def clip_kwargs(self, fps: float) -> dict[str, Any]:
        """Pipeline arguments that describe the clip beyond its size (LTX: the frame rate)."""
        return {}

    def step_callback_kwargs(self, controller) -> dict[str, Any]:
        """Pipeline arguments that advance ``controller`` after every step."""
        return {"callback_on_step_end": controller.on_step_end}

    def text_components(self) -> tuple[Any, Any]:
        """(tokenizer, text encoder) the pipeline's ``encode_prompt`` uses, for methods that edit a
        prompt's tokens or embeddings (a learned subject token) rather than call ``encode_prompt``."""
        return self.pipe.tokenizer, self.pipe.text_encoder

    # -- geometry of a clip in latent and token space -----------------------------------
    def temporal_factor(self) -> int:
        """The VAE's temporal compression: clips must have k·factor + 1 frames."""
        for attr in ("vae_scale_factor_temporal", "vae_temporal_compression_ratio"):
            if hasattr(self.pipe, attr):
                return int(getattr(self.pipe, attr))
        return 1

    def spatial_factor(self) -> int:
        """The VAE's spatial compression (pixels per latent cell along each side)."""
        for attr in ("vae_scale_factor_spatial", "vae_spatial_compression_ratio", "vae_scale_factor"):
            if hasattr(self.pipe, attr):
                return int(getattr(self.pipe, attr))
        raise NotImplementedError(f"{type(self).__name__}: the pipeline names no VAE spatial factor")

    @property
    def latent_channels(self) -> int:
        return int(self.denoiser.config.in_channels)

    def latent_grid(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(frames, height, width) of the latents of a clip of that size."""
        t, s = self.temporal_factor(), self.spatial_factor()
        return (num_frames - 1) // t + 1, height // s, width // s

    def token_grid(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(frames, height, width) of the denoiser's video tokens for a clip of that size (the latent
        grid divided by the patch size; a partial temporal patch counts as one)."""
        f, h, w = self.latent_grid(num_frames, height, width)
        cfg = self.denoiser.config
        p = cfg.get("patch_size", 1) or 1
        pt, ph, pw = tuple(p) if isinstance(p, (tuple, list)) else (cfg.get("patch_size_t") or 1, p, p)
        return -(-f // pt), h // ph, w // pw

    def rotary_embeddings(self, height: int, width: int, latent_frames: int):
        """The denoiser's rotary position embeddings for a clip, where the pipeline computes them
        outside the denoiser (CogVideoX); None where the denoiser has none or computes its own."""
        return None

    # -- the pipeline's own random draws ----------------------------------------------
    def seed_generator(self, seed: int):
        """A ``torch.Generator`` seeded as the pipelines here are seeded: on the GPU for a CUDA
        device (the pipeline's noise is then drawn there), else on the CPU."""
        import torch

        device = self.device if str(self.device).startswith("cuda") else "cpu"
        return torch.Generator(device=device).manual_seed(int(seed))

    def initial_noise(self, num_frames: int, height: int, width: int, generator, dtype, batch: int = 1):
        """The initial latents the pipeline itself draws for that clip and generator, before its
        scheduler's ``init_noise_sigma`` scaling (unit-variance noise in the family's layout)."""
        pipe = self.pipe
        z = pipe.prepare_latents(batch_size=batch, num_channels_latents=self.latent_channels,
                                 num_frames=int(num_frames), height=int(height), width=int(width), dtype=dtype,
                                 device=self.device, generator=generator)
        return z / pipe.scheduler.init_noise_sigma

    @property
    def tokenizer(self):
        """The pipeline's (first) text tokenizer, None where it has none."""
        return getattr(self.pipe, "tokenizer", None)

    @property
    def init_noise_sigma(self) -> float:
        """The scheduler's scale of the initial noise (the pipeline multiplies given latents by it)."""
        return float(getattr(self.pipe.scheduler, "init_noise_sigma", 1.0))

    @contextlib.contextmanager
    def initial_latents_through(self, fn: Callable) -> Iterator[None]:
        """Within the block, the latents the pipeline draws for a call (``prepare_latents``' result)
        pass through ``fn`` before its first step (guidance methods change them there)."""
        pipe = self.pipe
        if not callable(getattr(pipe, "prepare_latents", None)):
            raise EvalkitError(f"{type(pipe).__name__} has no prepare_latents (its initial latents cannot be changed)")
        own = "prepare_latents" in vars(pipe)
        original = pipe.prepare_latents

        def wrapped(*args, **kwargs):
            return fn(original(*args, **kwargs))

        pipe.prepare_latents = wrapped
        try:
            yield
        finally:
            if own:
                pipe.prepare_latents = original
            else:
                del pipe.prepare_latents

    # -- the positional embedding ----------------------------------------------------------
    def offset_positional_embedding(self, apply: Callable) -> list:
        """Forward hooks that pass the denoiser's positional embedding ρ through ``apply`` (DiTFlow's
        ρ optimisation): ``apply(tensors, batched=False)`` returns the tensors to use instead
        (``batched``: dim 0 is the batch). Returns the hook handles (``.remove()`` them)."""
        raise EvalkitError(f"{type(self).__name__}: the positional embedding of this family cannot be optimised")

    # -- source clips ------------------------------------------------------------------

    def _pixels(self, frames: np.ndarray):
        """uint8 frames (T, H, W, 3) -> [1, 3, T, H, W] in [-1, 1], in the VAE's dtype."""
        import torch

        x = torch.from_numpy(frames).to(self.device).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        return x.to(self.pipe.vae.dtype)

    def encode_video(self, frames: np.ndarray, fps: float) -> Latents:
        """VAE latents of uint8 frames (T, H, W, 3): posterior mode, the pipeline's normalisation."""
        raise NotImplementedError

    def decode_video(self, latents):
        """Float frames ``[batch, T, H, W, 3]`` in [0, 1] (numpy) of the denoiser-layout latents a
        pipeline call returns with ``output_type="latent"``, decoded exactly as the pipeline's own
        ``output_type="np"`` output (a generation's frames). :meth:`decode` is the uint8 view of one
        item used to look at x̂0 during sampling (masks, DIFT); the two stay apart so that each keeps
        the numbers it always had."""
        raise NotImplementedError(f"{type(self).__name__}: decoding latents outside the pipeline")

    def decoder_block(self, level: int) -> str:
        """The module path of a U-Net's decoder level ``level`` (its last block, with the upsampler),
        e.g. for DIFT features; a DiT has no decoder levels."""
        from evalkit.errors import EvalkitError

        raise EvalkitError(f"model family {self.registry_name!r} has no U-Net decoder levels")

    # -- decoding latents to frames ---------------------------------------------------------
    def decode(self, latents) -> np.ndarray:
        """uint8 frames ``(T, H, W, 3)`` of one item's latents (``[1, ...]`` in the denoiser's layout),
        as the pipeline decodes them."""
        from evalkit.errors import EvalkitError

        raise EvalkitError(f"decoding latents to frames is not available for model family {self.registry_name!r}")

    @staticmethod
    def _to_uint8(video) -> np.ndarray:
        """[C, T, H, W] in [-1, 1] -> uint8 (T, H, W, 3)."""
        import torch

        v = ((video.float() / 2 + 0.5).clamp(0, 1) * 255).round().to("cpu", dtype=torch.uint8)
        return v.permute(1, 2, 3, 0).numpy()

    # -- one denoising step ------------------------------------------------------------
    def schedule(self, steps: int, latents: Latents | None = None):
        """A copy of the pipeline's scheduler set to ``steps`` steps, as the pipeline sets it."""
        import copy

        sched = copy.deepcopy(self.pipe.scheduler)
        sched.set_timesteps(steps, device=self.device)
        return sched

    @contextlib.contextmanager
    def time_shift(self, mu: float | None):
        """``with family.time_shift(mu):`` the pipeline's flow-matching scheduler replaced by a copy
        whose sigmas are shifted by μ — σ' = e^μ·σ / (1 + (e^μ − 1)·σ), the exponential time shift,
        as a static shift of e^μ — for the pipeline's own sampling and for :meth:`schedule`; the
        original is restored on exit. ``mu=None``: nothing changes."""
        if mu is None:
            yield
            return
        import math

        from evalkit.errors import EvalkitError

        original = self.pipe.scheduler
        names = [n for n in ("shift", "flow_shift") if n in original.config]
        if not names:
            raise EvalkitError(f"model family {self.registry_name!r}: scheduler {type(original).__name__} has no "
                               f"flow-matching shift; a scheduler μ applies to flow-matching schedulers only")
        shift = {n: math.exp(float(mu)) for n in names}
        self.pipe.scheduler = type(original).from_config(original.config, **shift, use_dynamic_shifting=False)
        try:
            yield
        finally:
            self.pipe.scheduler = original

    def noise_to(self, sched, x0, noise, index: int):
        """``x0`` noised to the schedule's step ``index``."""
        import torch

        t = sched.timesteps[index]
        if not type(sched).__name__.startswith("FlowMatch"):
            return sched.add_noise(x0, noise, t.reshape(1).to(x0.device))
        sigma = sched.sigmas[index].to(x0.device, torch.float32)  # flow matching: x_t = (1-σ)x0 + σε
        return (1.0 - sigma) * x0 + sigma * noise

    def denoise_once(self, latents: Latents, t, embeds: Embeds, *, grad: bool = False):
        """One conditional forward pass of the denoiser (no CFG) at timestep ``t``; with ``grad``,
        differentiable in the latents (guidance methods optimise them through it)."""
        raise NotImplementedError

    def scheduler_step(self, sched, model_output, t, x):
        return sched.step(model_output, t, x, return_dict=False)[0]

    @staticmethod
    def timestep_batch(t, latents):
        import torch

        return torch.as_tensor(t, device=latents.device).reshape(1).expand(latents.shape[0])
