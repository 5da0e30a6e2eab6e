"""Text-to-video generators on diffusers pipelines: the shared base and ``vanilla``.

Every diffusers-based generator (``vanilla``, ``mbq``, ``kv-injection``, ...) takes the option
``backbone`` (a row of :data:`~evalkit.generators.backbones.BACKBONES`). :meth:`load` loads the
pipeline (memoised per process) and binds the backbone's model family
(:mod:`evalkit.generators.families`), which does everything model-specific; the code here only
calls the family. Loading is its own stage: ``generate`` loads before any stage timer starts.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping, NamedTuple

import numpy as np

from ..cases import Generation, MotionTransferCase, StageTimings
from ..errors import EvalkitError
from ..registry import GENERATORS
from ..video import Video
from . import loading
from .backbones import backbone_spec
from .base import Generator
from .families import family_class
from .families.base import Embeds, ModelFamily
from .frame_repeat import repeat_frames
from .timing import peak_memory, reset_peak_memory, stage_timer

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
# the options whose default (None: the backbone's) does not show their type, and their ranges
COMMON_TYPES: dict[str, type] = {"steps": int, "guidance_scale": float, "height": int, "width": int, "num_frames": int}
COMMON_BOUNDS: dict[str, tuple] = {"steps": (1, 10_000), "guidance_scale": (0.0, None), "height": (8, 16_384),
                                   "width": (8, 16_384), "num_frames": (1, 100_000)}


class Run(NamedTuple):
    """A generation before packaging: frames (or latents), stage seconds, fps, extras."""
    frames: Any
    timings: dict[str, float]
    fps: float
    extras: dict[str, Any]


class DiffusersT2V(Generator):
    """Shared machinery of the diffusers-backed generators (not registered itself)."""
    case_kinds: ClassVar[tuple[str, ...]] = ("motion-transfer",)
    defaults: ClassVar[dict[str, Any]] = dict(COMMON_DEFAULTS)
    # the backbone is checked by backbone_spec (a row added later needs no change here)
    choices: ClassVar[dict[str, tuple]] = {"dtype": loading.DTYPES}
    types: ClassVar[dict[str, type]] = COMMON_TYPES
    bounds: ClassVar[dict[str, tuple]] = COMMON_BOUNDS

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        self.spec = backbone_spec(self.options["backbone"])
        self._family: ModelFamily | None = None
        self._prompts: dict[str, Embeds] = {}

    # -- loading (its own stage) ---------------------------------------------------------
    def weights_ids(self) -> tuple[str, ...]:
        return (self.options["model_path"] or self.spec.hub_id,)

    def load(self) -> None:
        """Load the backbone's pipeline (once per process) and bind its model family; idempotent."""
        if self._family is None:
            pipe = loading.load_pipeline(self.spec, self.options["model_path"], self.options["dtype"], self.device)
            self.use_pipeline(pipe)

    def use_pipeline(self, pipe, prompt_embeddings: Mapping[str, Embeds] | None = None) -> None:
        """Bind an already built pipeline instead of loading one (benchmarks), optionally with
        precomputed prompt embeddings (for pipelines built without their text encoders)."""
        self._family = family_class(self.spec.family)(pipe, self.device)
        self._prompts = dict(prompt_embeddings or {})

    @property
    def family(self) -> ModelFamily:
        self.load()
        return self._family

    @property
    def pipe(self):
        return self.family.pipe

    # -- resolved settings ---------------------------------------------------------------
    def opt(self, name: str):
        value = self.options[name]
        return getattr(self.spec, name) if value is None else value

    @property
    def guidance(self) -> float:
        return float(self.opt("guidance_scale"))

    def embed(self, prompt: str) -> Embeds:
        """Conditional embeddings of one prompt (cached per generator instance)."""
        if prompt not in self._prompts:
            self._prompts[prompt] = self.family.encode_prompt(prompt)
        return self._prompts[prompt]

    # -- sampling ------------------------------------------------------------------------
    def sample(self, prompt: str, seed: int, *, num_frames: int, fps: float, controller=None,
               output_type: str = "np", latents=None):
        """Run the pipeline for ``prompt``; with a controller, the family's processors are installed
        and the controller's step advanced from the pipeline's step callback."""
        import torch

        from .attention import controlled

        family = self.family
        gen = torch.Generator(device="cpu" if not str(self.device).startswith("cuda") else self.device)
        gen.manual_seed(int(seed))
        do_cfg = self.guidance > 1.0
        kwargs: dict[str, Any] = dict(
            height=int(self.opt("height")), width=int(self.opt("width")), num_frames=int(num_frames),
            num_inference_steps=int(self.opt("steps")), guidance_scale=self.guidance, generator=gen,
            output_type=output_type,
            **family.prompt_kwargs(self.embed(prompt), self.embed(self.options["negative_prompt"]) if do_cfg else None),
            **family.clip_kwargs(fps))
        if latents is not None:
            kwargs["latents"] = latents
        if controller is None:
            return family.pipe(**kwargs).frames
        kwargs.update(family.step_callback_kwargs(controller))
        with controlled(family.denoiser, type(family), controller, cfg=family.cfg if do_cfg else "none"):
            return family.pipe(**kwargs).frames

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        """The generation without packaging (after :meth:`load`); benchmarks call it with
        ``output_type="latent"`` to leave VAE decoding out."""
        raise NotImplementedError

    def generate(self, case: MotionTransferCase, seed: int) -> Generation:
        self.load()  # before any stage timer: loading is never part of a generation's timings
        reset_peak_memory(self.device)
        out = self.run(case, seed)
        video = self.to_video(out.frames, out.fps, f"{self.registry_name}:{self.spec.name}:{case.case_id}")
        return Generation((video,), StageTimings(**out.timings), peak_memory(self.device), out.extras)

    def to_video(self, frames, fps: float, origin: str) -> Video:
        arr = np.asarray(frames[0], dtype=np.float32)
        if arr.ndim != 4:
            raise EvalkitError(f"{self.registry_name}: unexpected pipeline output shape {arr.shape}")
        if arr.shape[-1] != 3 and arr.shape[1] == 3:
            arr = arr.transpose(0, 2, 3, 1)
        if not np.isfinite(arr).all():
            raise EvalkitError(f"{self.registry_name}/{self.spec.name}: the pipeline produced non-finite frames ({origin})")
        return Video((np.clip(arr, 0.0, 1.0) * 255.0).round().astype(np.uint8), fps, origin)

    # -- source video --------------------------------------------------------------------
    def source_clip(self, case: MotionTransferCase, frame_repeat: int = 1) -> tuple[np.ndarray, float]:
        """The case's source as frames at the model's resolution and a count the VAE accepts.

        ``frame_repeat`` > 1 applies the rule of :mod:`evalkit.generators.frame_repeat` (each frame
        repeated, the last padded once more; fps × repeat): an error naming the case if the source
        was repeated already. Then the last frame is repeated until the count is k·f+1 for the
        VAE's temporal factor f.
        """
        import cv2

        video = repeat_frames(case.source.load(), frame_repeat, 1 if frame_repeat > 1 else 0,
                              item=f"case {case.case_id}")
        h, w = int(self.opt("height")), int(self.opt("width"))
        frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in video.frames])
        factor = self.family.temporal_factor()
        pad = (-(len(frames) - 1)) % factor
        if pad:
            frames = np.concatenate([frames, np.repeat(frames[-1:], pad, axis=0)], axis=0)
        return frames, video.fps


@GENERATORS.register("vanilla")
class Vanilla(DiffusersT2V):
    """The backbone prompted with the target prompt (no source video used)."""

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        timings: dict[str, float] = {}
        with stage_timer(self.device, timings, "inference"):
            frames = self.sample(case.target_prompt, seed, num_frames=int(self.opt("num_frames")),
                                 fps=self.spec.fps, output_type=output_type)
        return Run(frames, timings, self.spec.fps, {"backbone": self.spec.name, "seed": int(seed)})
