"""Text-to-video generators on diffusers pipelines: the shared base and ``vanilla``.

Every diffusers-based generator (``vanilla``, ``mbq``, ``kv-injection``, ``storyboard``, ...) takes
the option ``backbone`` (a row of :data:`~evalkit.generators.backbones.BACKBONES`). :meth:`load`
loads the pipeline (memoised per process) and binds the backbone's model family
(:mod:`evalkit.generators.families`), which does everything model-specific; the code here only
calls the family. Loading is its own stage: ``generate`` loads before any stage timer starts.

Case kinds: a motion-transfer case asks for its target prompt, a personalization case for its
prompt (its reference images are there for methods that use them: :meth:`reference_images`), a
multi-shot set for one video per shot prompt. A set is generated as one batch: the initial noise
of all shots is one draw of ``N`` latents from the case seed (``shot_seeds="batch"``), so shot
``i`` starts from the same noise in every method that follows this policy; ``"offset"`` seeds
shot ``i`` with ``seed + i`` instead.
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any, ClassVar, Mapping, NamedTuple, Sequence

import numpy as np

from ..cases import Case, Generation, MotionTransferCase, MultiShotCase, PersonalizationCase, StageTimings
from ..errors import EvalkitError
from ..frame_repeat import repeat_frames
from ..registry import GENERATORS
from ..timing import stage_timer
from ..video import Video
from . import loading
from .backbones import backbone_spec, supported_backbones
from .base import Generator
from .families import family_class
from .families.base import Embeds, ModelFamily
from .peak_memory import peak_memory, reset_peak_memory

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
#: options of generators that accept multi-shot sets
SHOT_SEEDS = ("batch", "offset")
ALL_CASE_KINDS = ("motion-transfer", "multi-shot", "personalization")


def case_prompts(case: Case) -> list[str]:
    """The prompts a case asks a text-to-video model for (one per video)."""
    if isinstance(case, MotionTransferCase):
        return [case.target_prompt]
    if isinstance(case, MultiShotCase):
        return list(case.prompts)
    if isinstance(case, PersonalizationCase):
        return [case.prompt]
    raise EvalkitError(f"case {case.case_id}: no prompts for case kind {case.kind!r}")


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

    #: the model families (``evalkit.generators.families``) this method runs on; None: every family
    families: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        self.spec = backbone_spec(self.options["backbone"])
        if self.families is not None and self.spec.family not in self.families:
            raise EvalkitError(f"{self.registry_name}: backbone {self.spec.name!r} (family {self.spec.family}) is not "
                               f"supported; {self.registry_name} runs on the families {', '.join(self.families)} "
                               f"(backbones: {', '.join(supported_backbones(self.families))})")
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

    @property
    def negative_prompt(self) -> str:
        """The negative prompt of the pipeline's CFG pass (methods may resolve a named preset)."""
        return self.options["negative_prompt"]

    def embed(self, prompt: str | Sequence[str]) -> Embeds:
        """Conditional embeddings of one prompt, or of several stacked as a batch (cached per prompt)."""
        if not isinstance(prompt, str):
            import torch

            parts = [self.embed(p) for p in prompt]
            masks = [e.mask for e in parts]
            return Embeds(torch.cat([e.embeds for e in parts]),
                          None if masks[0] is None else torch.cat(masks))
        if prompt not in self._prompts:
            self._prompts[prompt] = self.family.encode_prompt(prompt)
        return self._prompts[prompt]

    @property
    def cfg(self) -> str:
        """The CFG convention of this generator's denoiser calls ("none" without guidance)."""
        return self.family.cfg if self.guidance > 1.0 else "none"

    # -- sampling ------------------------------------------------------------------------
    def sample(self, prompt: str | Sequence[str], seed: int, *, num_frames: int, fps: float, controller=None,
               output_type: str = "np", latents=None, hooks: Sequence = ()):
        """Run the pipeline for ``prompt`` (several prompts: one batch, one video each); with a
        controller, the family's processors are installed and the controller's step advanced from the
        pipeline's step callback. ``hooks`` are context managers entered around the call (forward
        hooks that observe or change module outputs)."""

        from .attention import controlled

        family = self.family
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        gen = family.seed_generator(seed)
        negative = self.embed([self.negative_prompt] * len(prompts)) if self.cfg != "none" else None
        kwargs: dict[str, Any] = dict(
            height=int(self.opt("height")), width=int(self.opt("width")), num_frames=int(num_frames),
            num_inference_steps=int(self.opt("steps")), guidance_scale=self.guidance, generator=gen,
            output_type=output_type, **family.prompt_kwargs(self.embed(prompts), negative),
            **family.clip_kwargs(fps))
        if latents is not None:
            kwargs["latents"] = latents
        with ExitStack() as stack:
            if controller is not None:
                kwargs.update(family.step_callback_kwargs(controller))
                stack.enter_context(controlled(family.denoiser, type(family), controller, cfg=self.cfg))
            for hook in hooks:
                stack.enter_context(hook)
            return family.pipe(**kwargs).frames

    def shot_latents(self, shots: int, seed: int, num_frames: int):
        """Initial latents of a set under ``shot_seeds``: None for "batch" (the pipeline's own draw of
        ``shots`` latents from ``seed``), shot i drawn from ``seed + i`` for "offset"."""
        import torch

        if self.options.get("shot_seeds", "batch") == "batch":
            return None
        pipe, denoiser = self.pipe, self.family.denoiser
        if not hasattr(pipe, "prepare_latents"):
            raise EvalkitError(f"{self.registry_name}: shot_seeds=offset needs a pipeline with prepare_latents "
                               f"({type(pipe).__name__} of {self.spec.name} has none); use shot_seeds=batch")
        sigma = float(getattr(pipe.scheduler, "init_noise_sigma", 1.0))
        if sigma != 1.0:  # some pipelines scale given latents by it again
            raise EvalkitError(f"{self.registry_name}: shot_seeds=offset needs a scheduler with init_noise_sigma 1 "
                               f"({type(pipe.scheduler).__name__} has {sigma})")
        family = self.family
        return torch.cat([family.initial_noise(int(num_frames), int(self.opt("height")), int(self.opt("width")),
                                               family.seed_generator(int(seed) + i), denoiser.dtype)
                          for i in range(shots)])

    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        """The generation without packaging (after :meth:`load`); benchmarks call it with
        ``output_type="latent"`` to leave VAE decoding out."""
        raise NotImplementedError

    def generate(self, case: Case, seed: int) -> Generation:
        self.load()  # before any stage timer: loading is never part of a generation's timings
        reset_peak_memory(self.device)
        out = self.run(case, seed)
        origin = f"{self.registry_name}:{self.spec.name}:{case.case_id}"
        videos = tuple(self.to_video(out.frames, out.fps, origin if len(out.frames) == 1 else f"{origin}:shot{i}",
                                     item=i) for i in range(len(out.frames)))
        return Generation(videos, StageTimings(**out.timings), peak_memory(self.device), out.extras)

    def to_video(self, frames, fps: float, origin: str, item: int = 0) -> Video:
        arr = np.asarray(frames[item], dtype=np.float32)
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

        ``frame_repeat`` > 1 applies the rule of :mod:`evalkit.frame_repeat` (each frame
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

    def reference_images(self, case: PersonalizationCase) -> list[np.ndarray]:
        """A personalization case's reference images at the model's resolution (for methods that use them)."""
        import cv2

        h, w = int(self.opt("height")), int(self.opt("width"))
        return [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in case.reference_images.load()]


@GENERATORS.register("vanilla")
class Vanilla(DiffusersT2V):
    """The backbone prompted with the case's prompt(s): a motion-transfer target (no source video
    used), a personalization prompt (no reference image used), or every shot of a multi-shot set
    (one batch, the set's seed policy)."""
    case_kinds: ClassVar[tuple[str, ...]] = ALL_CASE_KINDS
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, "shot_seeds": "batch"}
    choices: ClassVar[dict[str, tuple]] = {**DiffusersT2V.choices, "shot_seeds": SHOT_SEEDS}

    def run(self, case: Case, seed: int, output_type: str = "np") -> Run:
        timings: dict[str, float] = {}
        prompts, frames_n = case_prompts(case), int(self.opt("num_frames"))
        latents = self.shot_latents(len(prompts), seed, frames_n) if isinstance(case, MultiShotCase) else None
        with stage_timer(self.device, timings, "inference"):
            frames = self.sample(prompts, seed, num_frames=frames_n, fps=self.spec.fps, output_type=output_type,
                                 latents=latents)
        extras = {"backbone": self.spec.name, "seed": int(seed)}
        if isinstance(case, MultiShotCase):
            extras.update(shots=len(prompts), shot_seeds=self.options["shot_seeds"])
        return Run(frames, timings, self.spec.fps, extras)
