"""Text-to-video backbones on diffusers pipelines: one table of specs, one loader, ``vanilla``.

Every diffusers-based generator (``vanilla``, ``mbq``, ``kv-injection``) takes the option
``backbone`` (a row of :data:`BACKBONES`) and shares the loading, prompt encoding, VAE encoding,
one-step denoising and timing code below. Pipelines are loaded once per process
(:func:`load_pipeline` memoises on path, dtype and device) and reused across cases.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..cases import Generation, MotionTransferCase, StageTimings
from ..errors import EvalkitError, MissingDependencyError
from ..registry import GENERATORS
from ..timing import stage_timer  # the one stage timer (mbq imports it from here too)
from ..video import Video
from .base import Generator


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    pipeline: str            # diffusers class name
    hub_id: str
    family: str              # attention family (generators/attention.py FAMILIES)
    height: int
    width: int
    num_frames: int
    fps: float
    steps: int = 50
    guidance_scale: float = 6.0
    cfg: str = "batched"     # "batched" ([uncond, cond] in one call) or "sequential" (cond call first)
    callback: str = "on_step_end"   # or "legacy" (TextToVideoSDPipeline's callback(step, t, latents))
    scheduler: str | None = None    # scheduler class to use instead of the checkpoint's
    # Motion by Queries defaults (paper App. A.1 / A.1.1)
    mbq_record: str = "single"      # "single" low-noise step (DiT) or "per-step" (U-Net, t=1000..600)
    mbq_fraction: float = 0.4
    mbq_blocks: tuple[int, ...] | None = None   # None: all self-attention layers
    mbq_consistency_steps: int = 0  # re-noise/denoise pass before extraction (Meiri et al.; U-Net)
    source_frame_repeat: int = 1    # App. A.1.1: repeat each source frame, pad the last once
    notes: str = ""


BACKBONES: dict[str, BackboneSpec] = {s.name: s for s in (
    BackboneSpec("wan2.1-1.3b", "WanPipeline", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "wan", 480, 832, 81, 16.0,
                 guidance_scale=5.0, cfg="sequential",
                 # MbQ App. A.1.1: 50-step FlowMatchEulerDiscreteScheduler; Q from blocks 20-30
                 # (0-based 20..29 of the 30 blocks), injected for 58-60 % of the steps
                 scheduler="FlowMatchEulerDiscreteScheduler", mbq_fraction=0.6,
                 mbq_blocks=tuple(range(20, 30)), source_frame_repeat=2),
    BackboneSpec("cogvideox-2b", "CogVideoXPipeline", "THUDM/CogVideoX-2b", "cogvideox", 480, 720, 49, 8.0,
                 guidance_scale=6.0, mbq_fraction=0.6, source_frame_repeat=2,
                 notes="MbQ on CogVideoX is not in the paper: DiT settings of Wan, all blocks"),
    BackboneSpec("cogvideox-5b", "CogVideoXPipeline", "THUDM/CogVideoX-5b", "cogvideox", 480, 720, 49, 8.0,
                 guidance_scale=6.0, mbq_fraction=0.6, source_frame_repeat=2,
                 notes="MbQ on CogVideoX is not in the paper: DiT settings of Wan, all blocks"),
    BackboneSpec("ltx-video", "LTXPipeline", "Lightricks/LTX-Video", "ltx", 480, 704, 161, 25.0,
                 guidance_scale=3.0, mbq_fraction=0.4, source_frame_repeat=2,
                 notes="MbQ App. A.1.1: 40 %; V-moment matching of the paper not implemented"),
    BackboneSpec("zeroscope", "TextToVideoSDPipeline", "cerspense/zeroscope_v2_576w", "unet", 320, 576, 24, 8.0,
                 guidance_scale=9.0, callback="legacy", mbq_record="per-step", mbq_fraction=0.4,
                 mbq_consistency_steps=2),
)}

DTYPES = ("auto", "float32", "bfloat16", "float16")

COMMON_DEFAULTS: dict[str, Any] = {
    "backbone": "wan2.1-1.3b",
    "model_path": None,       # hub id or local folder; None: the backbone's hub id
    "dtype": "auto",          # auto: bfloat16 on CUDA, float32 on CPU
    "steps": None,            # None: backbone default (50)
    "guidance_scale": None,
    "height": None,
    "width": None,
    "num_frames": None,
    "negative_prompt": "",
}

_PIPELINES: dict[tuple, Any] = {}


def backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise EvalkitError(f"unknown backbone {name!r} (known: {', '.join(sorted(BACKBONES))})")
    return BACKBONES[name]


def torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return getattr(torch, name)


def load_pipeline(spec: BackboneSpec, model_path: str | None, dtype: str, device: str):
    """The backbone's pipeline, loaded once per (path, dtype, device) and process."""
    from ..weights import resolve_hf

    path = resolve_hf(model_path or spec.hub_id, what=f"{spec.name} backbone")
    key = (spec.pipeline, str(path), dtype, str(device), spec.scheduler)
    if key not in _PIPELINES:
        from ..compat import ensure_torchvision

        ensure_torchvision()  # diffusers imports transformers, which imports torchvision
        try:
            import diffusers
        except ImportError as exc:  # pragma: no cover - environment
            raise MissingDependencyError(f"{spec.name}: diffusers is not installed ({exc})") from None
        cls = getattr(diffusers, spec.pipeline)
        try:
            pipe = cls.from_pretrained(str(path), torch_dtype=torch_dtype(dtype, device))
        except (OSError, ValueError) as exc:
            raise EvalkitError(f"{spec.name}: cannot load {spec.pipeline} from {path}: {exc}") from None
        if spec.scheduler and type(pipe.scheduler).__name__ != spec.scheduler:
            sched_cls = getattr(diffusers, spec.scheduler)
            cfg = dict(pipe.scheduler.config)
            # the Wan checkpoint ships UniPC with flow_shift; FlowMatchEuler names it shift
            pipe.scheduler = sched_cls(shift=float(cfg.get("flow_shift", cfg.get("shift", 1.0)) or 1.0))
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        _PIPELINES[key] = pipe
    return _PIPELINES[key]


def denoiser(pipe):
    return pipe.unet if hasattr(pipe, "unet") and getattr(pipe, "unet", None) is not None else pipe.transformer


@dataclass
class Embeds:
    """Prompt embeddings of one prompt (and its attention mask for LTX)."""
    embeds: Any
    mask: Any = None


class DiffusersT2V(Generator):
    """Shared machinery of the diffusers-backed generators (not registered itself)."""
    case_kinds: ClassVar[tuple[str, ...]] = ("motion-transfer",)
    defaults: ClassVar[dict[str, Any]] = dict(COMMON_DEFAULTS)
    choices: ClassVar[dict[str, tuple]] = {"backbone": tuple(BACKBONES), "dtype": DTYPES}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        self.spec = backbone_spec(self.options["backbone"])
        self._pipe = None
        self._embed_cache: dict[str, Embeds] = {}

    # -- resolved settings ---------------------------------------------------------------
    def opt(self, name: str):
        value = self.options[name]
        return getattr(self.spec, name) if value is None else value

    @property
    def pipe(self):
        if self._pipe is None:
            self._pipe = load_pipeline(self.spec, self.options["model_path"], self.options["dtype"], self.device)
        return self._pipe

    @property
    def guidance(self) -> float:
        return float(self.opt("guidance_scale"))

    # -- prompts -------------------------------------------------------------------------
    def embed(self, prompt: str) -> Embeds:
        """Conditional embeddings of one prompt (cached per generator instance)."""
        if prompt not in self._embed_cache:
            self._embed_cache[prompt] = self._encode_prompt(prompt)
        return self._embed_cache[prompt]

    def _encode_prompt(self, prompt: str) -> Embeds:
        pipe, fam, dev = self.pipe, self.spec.family, self.device
        if fam == "unet":
            emb, _ = pipe.encode_prompt(prompt, dev, 1, False)
            return Embeds(emb)
        if fam == "ltx":
            emb, mask, _, _ = pipe.encode_prompt(prompt, None, False, device=dev)
            return Embeds(emb, mask)
        emb, _ = pipe.encode_prompt(prompt, None, False, device=dev)
        return Embeds(emb)

    # -- sampling ------------------------------------------------------------------------
    def sample(self, prompt: str, seed: int, *, num_frames: int, controller=None,
               output_type: str = "np", latents=None):
        """Run the pipeline for ``prompt``; with a controller, its processors are installed and its
        step advanced from the pipeline's step callback."""
        import torch

        from .attention import controlled

        pipe, spec = self.pipe, self.spec
        gen = torch.Generator(device="cpu" if not str(self.device).startswith("cuda") else self.device)
        gen.manual_seed(int(seed))
        cond = self.embed(prompt)
        do_cfg = self.guidance > 1.0
        kwargs: dict[str, Any] = dict(
            prompt_embeds=cond.embeds, height=int(self.opt("height")), width=int(self.opt("width")),
            num_frames=int(num_frames), num_inference_steps=int(self.opt("steps")),
            guidance_scale=self.guidance, generator=gen, output_type=output_type)
        if latents is not None:
            kwargs["latents"] = latents
        if do_cfg:
            neg = self.embed(self.options["negative_prompt"])
            kwargs["negative_prompt_embeds"] = neg.embeds
            if spec.family == "ltx":
                kwargs["negative_prompt_attention_mask"] = neg.mask
        if spec.family == "ltx":
            kwargs["prompt_attention_mask"] = cond.mask
        if controller is None:
            return self._frames(pipe(**kwargs))
        controller.batched_cfg = do_cfg and spec.cfg == "batched"
        if spec.callback == "legacy":
            kwargs.update(callback=controller.legacy_callback, callback_steps=1)
        else:
            kwargs["callback_on_step_end"] = controller.on_step_end
        with controlled(denoiser(pipe), spec.family, controller):
            return self._frames(pipe(**kwargs))

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np"):
        """(frames or latents, stage seconds, fps, extras): the generation without packaging;
        benchmarks call it with ``output_type="latent"`` to leave VAE decoding out."""
        raise NotImplementedError

    def generate(self, case: MotionTransferCase, seed: int) -> Generation:
        self.reset_peak_memory()
        frames, timings, fps, extras = self.run(case, seed)
        video = self.to_video(frames, fps, f"{self.registry_name}:{self.spec.name}:{case.case_id}")
        return Generation((video,), StageTimings(**timings), self.peak_memory(), extras)

    @staticmethod
    def _frames(output):
        return output.frames

    def to_video(self, frames, fps: float, origin: str) -> Video:
        arr = frames[0] if not isinstance(frames, list) else frames[0]
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim != 4:
            raise EvalkitError(f"{self.registry_name}: unexpected pipeline output shape {arr.shape}")
        if arr.shape[-1] != 3 and arr.shape[1] == 3:
            arr = arr.transpose(0, 2, 3, 1)
        if not np.isfinite(arr).all():
            raise EvalkitError(f"{self.registry_name}/{self.spec.name}: the pipeline produced non-finite frames ({origin})")
        return Video((np.clip(arr, 0.0, 1.0) * 255.0).round().astype(np.uint8), fps, origin)

    def peak_memory(self) -> int:
        import torch

        if str(self.device).startswith("cuda") and torch.cuda.is_available():
            return int(torch.cuda.max_memory_allocated(self.device))
        return 0

    def reset_peak_memory(self) -> None:
        import torch

        if str(self.device).startswith("cuda") and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats(self.device)

    # -- source video --------------------------------------------------------------------
    def source_frames(self, case: MotionTransferCase) -> tuple[np.ndarray, float]:
        """The case's source at the model's resolution and a frame count the VAE accepts.

        App. A.1.1: each frame repeated ``source_frame_repeat`` times, the last padded once more
        (16→33, 24→49), fps multiplied accordingly; then the last frame is repeated until the
        count fits the VAE's temporal factor (k·f+1).
        """
        import cv2

        video = case.source.load()
        h, w = int(self.opt("height")), int(self.opt("width"))
        frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in video.frames])
        rep = self.spec.source_frame_repeat
        fps = video.fps * rep
        if rep > 1:
            frames = np.concatenate([np.repeat(frames, rep, axis=0), frames[-1:]], axis=0)
        factor = self.temporal_factor()
        while (len(frames) - 1) % factor:
            frames = np.concatenate([frames, frames[-1:]], axis=0)
        return frames, fps

    def temporal_factor(self) -> int:
        pipe = self.pipe
        for attr in ("vae_scale_factor_temporal", "vae_temporal_compression_ratio"):
            if hasattr(pipe, attr):
                return int(getattr(pipe, attr))
        return 1

    def encode_video(self, frames: np.ndarray):
        """VAE latents of uint8 frames (T, H, W, 3), in the layout the pipeline denoises."""
        import torch

        pipe, fam = self.pipe, self.spec.family
        vae = pipe.vae
        x = torch.from_numpy(frames).to(self.device).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        x = x.to(vae.dtype)
        with torch.no_grad():
            if fam == "wan":
                z = vae.encode(x).latent_dist.mode()
                mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(z)
                std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(z)
                return ((z - mean) / std).float()
            if fam == "cogvideox":
                z = vae.encode(x).latent_dist.mode() * vae.config.scaling_factor
                return z.permute(0, 2, 1, 3, 4).contiguous()
            if fam == "unet":
                per_frame = x[0].permute(1, 0, 2, 3)
                z = vae.encode(per_frame).latent_dist.mode() * vae.config.scaling_factor
                return z.permute(1, 0, 2, 3)[None].contiguous()
            if fam == "ltx":
                z = vae.encode(x).latent_dist.mode()
                z = pipe._normalize_latents(z, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
                self._ltx_latent_shape = tuple(z.shape[2:])
                return pipe._pack_latents(z, pipe.transformer_spatial_patch_size,
                                          pipe.transformer_temporal_patch_size).float()
        raise EvalkitError(f"{self.spec.name}: no VAE encoder for family {fam}")

    # -- schedule and one denoising call -------------------------------------------------
    def schedule(self, seq_len: int | None = None):
        """(timesteps, sigmas or None) of the pipeline's own schedule for ``steps`` steps."""
        import copy

        sched = copy.deepcopy(self.pipe.scheduler)
        steps = int(self.opt("steps"))
        if self.spec.family == "ltx":
            from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

            sigmas = np.linspace(1.0, 1.0 / steps, steps)
            mu = calculate_shift(seq_len or 256, sched.config.get("base_image_seq_len", 256),
                                 sched.config.get("max_image_seq_len", 4096),
                                 sched.config.get("base_shift", 0.5), sched.config.get("max_shift", 1.15))
            sched.set_timesteps(sigmas=sigmas, mu=mu, device=self.device)
        else:
            sched.set_timesteps(steps, device=self.device)
        return sched

    def noise_to(self, sched, x0, noise, index: int):
        """The source latent noised to the schedule's step ``index`` (same noise for every level)."""
        import torch

        t = sched.timesteps[index]
        if not type(sched).__name__.startswith("FlowMatch"):
            return sched.add_noise(x0, noise, t.reshape(1).to(x0.device))
        sigma = sched.sigmas[index].to(x0.device, torch.float32)  # flow matching: x_t = (1-σ)x0 + σε
        return (1.0 - sigma) * x0 + sigma * noise

    def denoise_once(self, latents, t, embeds: Embeds, num_frames_px: int):
        """One conditional forward pass of the denoiser (no CFG) on ``latents`` at timestep ``t``."""
        import torch

        pipe, fam = self.pipe, self.spec.family
        model = denoiser(pipe)
        dtype = model.dtype
        b = latents.shape[0]
        tt = torch.as_tensor(t, device=latents.device).reshape(1).expand(b)
        with torch.no_grad():
            if fam == "wan":
                return model(hidden_states=latents.to(dtype), timestep=tt, encoder_hidden_states=embeds.embeds,
                             return_dict=False)[0]
            if fam == "cogvideox":
                lat = pipe.scheduler.scale_model_input(latents, t) if hasattr(pipe.scheduler, "scale_model_input") else latents
                rope = (pipe._prepare_rotary_positional_embeddings(int(self.opt("height")), int(self.opt("width")),
                                                                   lat.size(1), latents.device)
                        if model.config.use_rotary_positional_embeddings else None)
                return model(hidden_states=lat.to(dtype), encoder_hidden_states=embeds.embeds, timestep=tt,
                             image_rotary_emb=rope, return_dict=False)[0]
            if fam == "unet":
                return model(latents.to(dtype), t, encoder_hidden_states=embeds.embeds, return_dict=False)[0]
            if fam == "ltx":
                f, h, w = self._ltx_latent_shape
                rope_scale = (pipe.vae_temporal_compression_ratio / self._fps_for_ltx,
                              pipe.vae_spatial_compression_ratio, pipe.vae_spatial_compression_ratio)
                return model(hidden_states=latents.to(dtype), encoder_hidden_states=embeds.embeds, timestep=tt,
                             encoder_attention_mask=embeds.mask, num_frames=f, height=h, width=w,
                             rope_interpolation_scale=rope_scale, return_dict=False)[0]
        raise EvalkitError(f"{self.spec.name}: no denoiser call for family {fam}")

    _fps_for_ltx = 25.0

    def consistency_pass(self, x0, embeds: Embeds, noise_gen, num_frames_px: int):
        """Meiri et al. latent-space consistency (MbQ App. A.1): noise x0 by the last two steps of
        the schedule and denoise it back to a clean latent with the source prompt."""
        import torch

        n = self.spec.mbq_consistency_steps
        if n <= 0:
            return x0
        sched = self.schedule()
        noise = torch.randn(x0.shape, generator=noise_gen, device="cpu").to(x0)
        x = self.noise_to(sched, x0, noise, len(sched.timesteps) - n)
        for t in sched.timesteps[-n:]:
            eps = self.denoise_once(x, t, embeds, num_frames_px).to(x.dtype)
            if self.spec.family == "unet":  # the scheduler steps frames as images (as the pipeline does)
                b, c, f, h, w = x.shape
                xs = x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
                es = eps.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
                xs = sched.step(es, t, xs).prev_sample
                x = xs.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)
            else:
                x = sched.step(eps, t, x, return_dict=False)[0]
        return x


@GENERATORS.register("vanilla")
class Vanilla(DiffusersT2V):
    """The backbone prompted with the target prompt (no source video used)."""

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np"):
        timings: dict[str, float] = {}
        n = int(self.opt("num_frames"))
        with stage_timer(self.device, timings, "inference"):
            frames = self.sample(case.target_prompt, seed, num_frames=n, output_type=output_type)
        return frames, timings, self.spec.fps, {"backbone": self.spec.name, "seed": int(seed)}
