"""V-Warper (Lee et al., "Appearance-Consistent Video Diffusion Personalization via Value Warping").

Paper Sec. 4, App. A and B.2, on CogVideoX (personalization cases):

1. **Coarse appearance adaptation** (``lora="train"``): LoRA rank 128 on K, V, O of every MM-DiT
   attention layer + a learnable subject token, trained on the case's reference images
   (:mod:`.coarse_training` on :mod:`evalkit.generators.training`; a cached, resumable artifact
   per subject). ``lora`` may instead name a LoRA to load (ours or a user's) or be ``"none"``.
2. **Fine appearance injection**: a reference branch (the reference image repeated over time,
   DDIM-inverted, :mod:`.inversion`) denoised in the same batch as the generation;
   correspondences from the RoPE-free Q/K of layer 12 (:mod:`.correspondence`); the
   reference values warped onto matched generation tokens at steps 3–19 in layers 20–29,
   inside the foreground ∩ cycle-consistency mask (:mod:`.field`, :mod:`.masks`).
   25 frames, 50 steps, 16 fps.

Ablations are options: Table 2 (I) ``injection="none"`` (registered as ``vwarper-coarse``),
(II) ``masks="none"`` (``vwarper-nomask``), (III) the defaults; App. B.2 ``injection=
"kv-replace"`` and ``"token-concat"``; Fig. 3 ``lora_targets="qkvo"``. Every reading of the
paper we had to choose is an option, listed in docs/generators/vwarper.md. The options are
resolved once, at construction, into :class:`~.settings.VWarperSettings`; the package's helpers
take ``(family, settings, ...)``.
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Callable, ClassVar

from evalkit.cases import Generation, PersonalizationCase, StageTimings
from evalkit.generators.diffusers_t2v import COMMON_DEFAULTS, DiffusersT2V, Run
from evalkit.generators.loading import DTYPES
from evalkit.generators.peak_memory import peak_memory, reset_peak_memory
from evalkit.registry import GENERATORS
from evalkit.timing import stage_timer

from .branches import BranchContext, branch_behaviours, reference_clip, sample_branches
from .coarse import coarse_stage
from .settings import VWarperSettings, vwarper_settings

INJECTIONS = ("value-warp", "kv-replace", "token-concat", "none")


@GENERATORS.register("vwarper")
class VWarper(DiffusersT2V):
    """V-Warper: coarse LoRA + subject token, then masked value warping from a reference branch."""
    case_kinds: ClassVar[tuple[str, ...]] = ("personalization",)
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS,
        "backbone": "cogvideox-5b",     # App. A
        "num_frames": 25,               # App. A: 25 frames, 50 steps, 16 fps
        "fps": 16.0,
        "injection": "value-warp",      # value-warp | kv-replace | token-concat | none (Table 2 (I))
        "masks": "fg+cc",               # fg+cc | fg | cc | none (Table 2 (II))
        "match_layer": 12,              # Sec. 4.2: layer 12 RoPE-free Q/K (0-based block index)
        "warp_layers": "20-29",         # App. A (0-based, inclusive)
        "warp_steps": "3-19",           # App. A (0-based step indices, inclusive)
        "match_from": "previous",       # Sec. 4.3: Q/K "from the previous step"; or "current"
        "tau_fg": 0.3,
        "tau_cc": 0.1,
        "fg_softmax": "text",           # V→T attention normalised over the text keys, or "joint"
        "fg_normalize": "video",        # min-max over the video before τ_fg, "frame" or "none"
        "mask_layers": "all",           # layers whose subject attention is averaged
        "mask_words": "token",          # the subject text token; "class" or "token+class"
        "scope": "frame",               # match frame f against reference frame f, or "video"
        "head_reduce": "concat",        # one descriptor over all heads, or "mean" of per-head maps
        "warp": "gather",               # backward warp along gen→ref matches, or "splat" along ref→gen
        "passes": "both",               # CFG passes warped: both, or "cond"
        "reference_image": 0,           # which reference image (sorted by name) the branch repeats
        "reference_prompt": "a photo of {token} {class_noun}",
        "reference_branch": "trajectory",   # the inverted latents at every step, or "denoise" from z_T
        "lora": "train",                # train | none | a LoRA folder or .safetensors file
        "lora_rank": 128,
        "lora_alpha": None,             # None: = rank
        "lora_targets": "kvo",          # Sec. 4.1 / Fig. 3; or "qkvo"
        "lora_lr": 1e-4,
        "token_lr": 5e-4,
        "lora_steps": 500,
        "lora_batch_size": 1,
        "lora_weight_decay": 0.01,
        "lora_seed": 0,
        "learn_token": True,
        "token_space": "input",         # the token's embedding: T5's input (textual inversion) or "output"
        "train_prompt": "a photo of {token} {class_noun}",
        "lora_checkpoint_every": 50,
        "gradient_checkpointing": False,
    }
    choices: ClassVar[dict[str, tuple]] = {
        "dtype": DTYPES, "injection": INJECTIONS, "masks": ("fg+cc", "fg", "cc", "none"),
        "match_from": ("previous", "current"), "fg_softmax": ("text", "joint"),
        "fg_normalize": ("video", "frame", "none"), "mask_words": ("token", "class", "token+class"),
        "scope": ("frame", "video"), "head_reduce": ("concat", "mean"), "warp": ("gather", "splat"),
        "passes": ("both", "cond"), "reference_branch": ("trajectory", "denoise"),
        "lora_targets": ("kvo", "qkvo"), "token_space": ("input", "output")}

    families = ("cogvideox",)   # MM-DiT joint attention, CogVideoX's rotary embeddings and DDIM

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        #: every option resolved once (backbone defaults included); the package's helpers read only this
        self.settings: VWarperSettings = vwarper_settings(self.registry_name, self.options, self.spec)

    @property
    def fps(self) -> float:
        return self.settings.fps

    def generate(self, case: PersonalizationCase, seed: int) -> Generation:
        self.load()  # before any stage timer: loading is never part of a generation's timings
        reset_peak_memory(self.device)
        out = self.run(case, seed)
        video = self.to_video(out.frames, out.fps, f"{self.registry_name}:{self.spec.name}:{case.case_id}")
        return Generation((video,), StageTimings(**out.timings), peak_memory(self.device), out.extras)

    def run(self, case: PersonalizationCase, seed: int, output_type: str = "np", *,
            observe: Callable[[BranchContext], list] | None = None, probe_steps: tuple[int, ...] = ()) -> Run:
        """The generation without packaging. ``observe(context)`` returns extra behaviours for the
        dual-branch pass (the correspondence probe); ``probe_steps`` keeps the subject attention
        recorded up to those steps."""
        from .prompts import SubjectPrompts

        family, s, timings = self.family, self.settings, {}
        extras: dict[str, Any] = {"backbone": self.spec.name, "seed": int(seed), "injection": s.injection,
                                  "masks": s.masks, "num_frames": s.num_frames, "fps": s.fps}
        with ExitStack() as stack:
            with stage_timer(self.device, timings, "optimization"):
                base = self.base_weights() if s.lora == "train" else ""   # the artifact key's part
                embedding, extras["lora"] = coarse_stage(family, s, case, stack, base)
            prompts = SubjectPrompts(family, case.subject_token, embedding, s.token_space)
            if s.injection == "none":
                with stage_timer(self.device, timings, "inference"):
                    frames = sample_branches(family, s, prompts, case, seed, None, output_type)
                return Run(frames, timings, s.fps, extras)
            with stage_timer(self.device, timings, "inversion"):
                context = reference_clip(family, s, case, prompts)
            behaviours = branch_behaviours(s, case, prompts, context, probe_steps)
            if observe is not None:
                behaviours += observe(context)
            with stage_timer(self.device, timings, "inference"):
                frames = sample_branches(family, s, prompts, case, seed, context, output_type, behaviours)
        extras.update(context.summary(behaviours))
        return Run(frames, timings, s.fps, extras)

    def probe(self, case: PersonalizationCase, seed: int, steps=(10, 20, 30, 40), layers=None):
        """Internal cross-branch matches per feature type, layer and step, for the PCK probe
        (:mod:`evalkit.analyses.correspondence`)."""
        from .match_recording import ProbeSession

        session = ProbeSession(self.family, self.settings, tuple(steps), layers)
        try:
            out = self.run(case, seed, observe=session.observe, probe_steps=session.steps)
        finally:
            session.close()
        return session.recording(case, out.frames)

    def base_weights(self) -> str:
        """Identity of the base weights for the coarse stage's cache key: path or hub id, its
        revision (or files' sizes and times) and the dtype it runs in (``auto`` resolved)."""
        from evalkit.generators.loading import torch_dtype
        from evalkit.weights import weights_revision

        path = self.options["model_path"] or self.spec.hub_id
        return f"{path}@{weights_revision(str(path))}:{torch_dtype(self.options['dtype'], self.device)}"


def _alias(name: str, doc: str, **overrides: Any) -> type:
    cls = type(name.replace("-", "_").title().replace("_", ""), (VWarper,),
               {"defaults": {**VWarper.defaults, **overrides}, "__doc__": doc, "__module__": __name__})
    return GENERATORS.register(name)(cls)


# Table 2 rows by name (the paper-table YAMLs name them): the same generator, other defaults
VWarperCoarse = _alias("vwarper-coarse", "Table 2 (I): the coarse stage only (LoRA + token, no reference branch).",
                       injection="none")
VWarperNoMask = _alias("vwarper-nomask", "Table 2 (II): value warping on every token (no masks).", masks="none")
