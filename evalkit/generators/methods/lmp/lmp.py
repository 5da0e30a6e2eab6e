"""LMP — Leveraging Motion Prior (LMP paper Sec. 4), zero-shot motion transfer on CogVideoX.

The real reference video is denoised in the same batch as the target (row 0, noised per step by
Eq. 10: :mod:`.reference`). In every controlled layer:

- FBDM (Sec. 4.2, :mod:`.masks`): the reference's foreground tokens are those its subject
  words (the case's ``source_subject``) attend to most, from the reference's own joint text–video
  attention averaged over heads and layers, refreshed from every pass that holds the reference;
- RMTM (Sec. 4.3, :mod:`.kv_concat`): the target's video tokens attend to their own
  tokens plus the reference's foreground K/V, reference keys reweighted by λ = 0.98;
- ASM (Sec. 4.4, :mod:`.asm`): before a step's prediction, gradient steps (lr 100) on the
  target latents lower the top-1/5 attention between them and the reference's subject tokens;
  by default only where the case's target subject differs from the source's (Sec. 4.4: "only
  necessary when the subjects in the reference and target videos are different").

The paper's three timestep hyper-parameters (Sec. 5.1: "… is set to 40, … to 45, and … to 35";
the symbols are lost from the text) are the options ``fbdm_steps``, ``rmtm_steps`` and
``asm_steps`` in that order: an int N is the first N steps of the schedule, ``"a:b"`` steps
a…b−1. Every other reading is one option away (docs/generators/lmp.md). The options resolve
once, at construction, into :class:`~evalkit.generators.methods.lmp.settings.LMPSettings`.
"""
from __future__ import annotations

from typing import Any, ClassVar

from evalkit.cases import MotionTransferCase
from evalkit.errors import EvalkitError
from evalkit.generators.attention import AttentionController
from evalkit.generators.diffusers_t2v import COMMON_DEFAULTS, DiffusersT2V, Run
from evalkit.generators.families.base import Embeds, Latents
from evalkit.generators.loading import DTYPES
from evalkit.registry import GENERATORS
from evalkit.timing import stage_timer

from .reference import REFERENCE_MODES
from .settings import WINDOWS, LMPSettings

LMP_DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "backbone": "cogvideox-5b",    # Sec. 5.1
    "rmtm_weight": 0.98,           # λ (Sec. 5.1)
    "rmtm_reweight": "keys",       # keys: K_ref·λ (Eq. 6 as worded); weights: attention weights on the reference ·λ
    "queries": "video",            # target queries that see the reference: video tokens (Sec. 4.3) or all
    "passes": "both",              # target CFG rows that see the reference: both or cond
    "blocks": "all",               # layers with RMTM (FBDM and ASM always read every layer)
    "fbdm": True,                  # False: every reference video token is concatenated (Table 2, "w/o FBDM")
    "fbdm_threshold": "otsu",      # otsu (whole video), otsu-frame, or a fraction of the normalised map
    "asm": "auto",                 # auto: when the target subject differs from the source's; on; off
    "asm_lr": 100.0,               # Sec. 5.1
    "asm_iterations": 1,           # gradient steps per denoising step (Eq. 9: one)
    "asm_top_fraction": 0.2,       # Eq. 8: the top 1/5 of the values
    "asm_checkpointing": True,     # recompute blocks in ASM's backward pass (memory; same gradients)
    "fbdm_steps": 40,              # the three timestep hyper-parameters of Sec. 5.1, in the paper's order
    "rmtm_steps": 45,
    "asm_steps": 35,
    "reference": "renoise",        # Eq. 10 at every step; denoise: noised once, then denoised by the model
    "reference_noise": "seed",     # seed: ε from reference_seed; target: the target's initial noise
    "reference_seed": 1000,        # not a usual case seed: on CPU seed s would draw the target's own noise
    "reference_prompt": "source",  # the reference row's prompt: the case's source prompt or ""
    "source_frame_repeat": 2,      # 24 → 49 frames (Sec. 5.1: 49 frames; docs/generators.md "Source frames")
}
def _same_subject(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        s = " ".join(s.lower().split())
        for article in ("a ", "an ", "the "):
            s = s[len(article):] if s.startswith(article) else s
        return s

    return norm(a) == norm(b)


class _LMPController(AttentionController):
    """The attention controller whose step callback also runs ASM for the next step."""

    def __init__(self, behaviours, *, after_step) -> None:
        super().__init__(behaviours)
        self.after_step = after_step

    def on_step_end(self, pipe, i, t, callback_kwargs):
        super().on_step_end(pipe, i, t, callback_kwargs)
        return self.after_step(int(i) + 1, callback_kwargs)


@GENERATORS.register("lmp")
class LMP(DiffusersT2V):
    """LMP: reference denoised in parallel, foreground K/V concatenated (RMTM), optional ASM."""
    families: ClassVar[tuple[str, ...]] = ("cogvideox",)   # joint text–video attention (FBDM, ASM)
    defaults: ClassVar[dict[str, Any]] = dict(LMP_DEFAULTS)
    # a window is "first N steps" (an int) or a range "a:b": checked by the generator's own parser
    types: ClassVar[dict[str, type]] = {**DiffusersT2V.types, **{w: object for w in WINDOWS}}
    choices: ClassVar[dict[str, tuple]] = {
        "dtype": DTYPES, "rmtm_reweight": ("keys", "weights"), "queries": ("video", "all"),
        "passes": ("both", "cond"), "fbdm": (True, False), "asm": ("auto", "on", "off"),
        "asm_checkpointing": (True, False),
        "reference": REFERENCE_MODES, "reference_noise": ("seed", "target"), "reference_prompt": ("source", "empty")}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        self.settings = LMPSettings.from_options(self.options, self.spec)

    # -- resolved per case ---------------------------------------------------------------
    def use_asm(self, case: MotionTransferCase) -> bool:
        mode = self.settings.asm
        if mode != "auto":
            return mode == "on"
        if not case.subject or not case.source_subject:
            raise EvalkitError(f"lmp: case {case.case_id}: asm=auto compares the target subject with the source's, "
                               "but the case lacks `subject`/`source_subject` (annotate them or set asm=on/off)")
        return not _same_subject(case.subject, case.source_subject)

    def layers(self):
        from evalkit.generators.attention import block_filter, self_attention_layers
        from evalkit.generators.settings import parse_blocks

        family = self.family
        return block_filter(self_attention_layers(family.denoiser, type(family)), parse_blocks(self.settings.blocks))

    def subject_positions(self, case: MotionTransferCase, prompt: str, text_length: int) -> tuple[int, ...]:
        """Token positions of the case's ``source_subject`` in the reference row's prompt (FBDM, ASM)."""
        from .masks import subject_token_positions

        if not case.source_prompt or not case.source_subject:
            raise EvalkitError(f"lmp: case {case.case_id} needs a source prompt and its subject words "
                               "(`source_subject`): FBDM and ASM find the reference subject by them")
        tokenizer = self.family.tokenizer
        if tokenizer is None:
            raise EvalkitError("lmp: the pipeline has no tokenizer to find the subject tokens")
        try:
            return subject_token_positions(tokenizer, prompt, case.source_subject, text_length)
        except EvalkitError as exc:
            raise EvalkitError(f"lmp: case {case.case_id}: {exc}") from None

    def initial_latents(self, seed: int, x0: Latents):
        """The target's initial noise exactly as the pipeline draws it for ``seed`` (unscaled)."""
        family = self.family
        return family.initial_noise(x0.num_frames, x0.height, x0.width, family.seed_generator(seed),
                                    self.embed(self.settings.negative_prompt).embeds.dtype)

    def reference_noise(self, seed: int, x0: Latents):
        import torch

        if self.settings.reference_noise == "target":
            return self.initial_latents(seed, x0).to(x0.tensor) * self.family.init_noise_sigma
        # a fixed CPU stream: the same reference noise on every device (not the case seed's)
        gen = torch.Generator(device="cpu").manual_seed(int(self.settings.reference_seed))
        return torch.randn(x0.tensor.shape, generator=gen).to(x0.tensor)

    # -- the method --------------------------------------------------------------------
    def run(self, case: MotionTransferCase, seed: int, output_type: str = "np") -> Run:
        import torch

        from evalkit.generators.attention import controlled

        from .asm import asm_update, checkpointed, frozen
        from .kv_concat import ConcatReferenceKV, all_tokens
        from .masks import Foreground
        from .reference import ReferenceBranch, ReferenceRows
        from .text_attention import SubjectAttentionProbe

        family, o = self.family, self.settings
        steps, win = o.steps, o.windows()
        timings: dict[str, float] = {}
        repeat = int(o.source_frame_repeat)
        with stage_timer(self.device, timings, "inversion"):
            frames, fps = self.source_clip(case, repeat)
            x0 = family.encode_video(frames, fps)
        ref_prompt = case.source_prompt if o.reference_prompt == "source" else ""
        ref_emb, tgt_emb = self.embed(ref_prompt), self.embed(case.target_prompt)
        # FBDM and ASM find the reference subject's words among the reference row's text tokens
        needs_subject = bool(o.fbdm) or o.asm != "off"
        positions = self.subject_positions(case, ref_prompt, int(ref_emb.embeds.shape[1])) if needs_subject else ()
        asm_on = self.use_asm(case)
        branch = ReferenceBranch(family, x0, self.reference_noise(seed, x0), family.schedule(steps, x0), ref_emb,
                                 o.reference)
        grid = family.token_grid(x0.num_frames, x0.height, x0.width)
        fg = Foreground(grid, o.fbdm_threshold) if o.fbdm else None
        concat = ConcatReferenceKV(layers=self.layers(), weight=float(o.rmtm_weight), reweight=o.rmtm_reweight,
                                   queries=o.queries, target_passes=o.passes,
                                   tokens=fg.tokens if fg is not None else all_tokens,
                                   active=win["rmtm_steps"].__contains__)
        fbdm_probe = SubjectAttentionProbe(subject=positions, text_row=0, video_row=0, armed=False)
        asm_probe = SubjectAttentionProbe(subject=positions, text_row=0, video_row=-1, grad=True, armed=False)
        asm_losses: list[float] = []
        in_call: dict[str, float] = {}
        in_asm = [False]   # ASM passes leave the foreground alone (their backward recomputes the blocks)
        # the main calls need the reference while RMTM acts (FBDM refreshes only serve RMTM); a denoised
        # reference must also keep pace up to the last ASM step (ASM passes hold it themselves)
        horizon = max(win["rmtm_steps"].stop if len(win["rmtm_steps"]) else 0,
                      win["asm_steps"].stop if asm_on and o.reference == "denoise" else 0)

        def before_call(step: int) -> None:   # (calls at steps >= horizon hold no reference row)
            fbdm_probe.reset()
            fbdm_probe.armed = (fg is not None and not in_asm[0] and step < horizon
                                and (step in win["fbdm_steps"] or fg.indices is None))

        def after_call(step: int) -> None:
            if fbdm_probe.armed and fbdm_probe.layers_seen:
                fg.update(fbdm_probe.mean())
            fbdm_probe.armed = False

        def asm(step: int, z):
            def forward(zv):
                with refs.own_call():
                    x = torch.cat([branch.latent(step).to(zv.dtype), zv])
                    family.denoise_once(x0.with_tensor(x), branch.timestep(step),
                                        Embeds(torch.cat([ref_emb.embeds, tgt_emb.embeds])), grad=True)

            in_asm[0] = True
            try:
                with frozen(family.denoiser), checkpointed(family.denoiser, bool(o.asm_checkpointing)):
                    z, losses = asm_update(forward, z, asm_probe, lr=float(o.asm_lr),
                                           iterations=int(o.asm_iterations), fraction=float(o.asm_top_fraction))
            finally:
                in_asm[0] = False
            asm_losses.extend(losses)
            return z

        def after_step(step: int, callback_kwargs) -> dict:
            if not asm_on or step >= steps or step not in win["asm_steps"]:
                return {}
            with stage_timer(self.device, in_call, "asm"):
                z = asm(step, callback_kwargs["latents"])
            return {"latents": z}

        ctrl = _LMPController([concat, fbdm_probe, asm_probe], after_step=after_step)
        latents = None
        with ReferenceRows(family.denoiser, branch, ctrl, horizon=horizon, before_call=before_call,
                           after_call=after_call) as refs:
            with controlled(family.denoiser, type(family), ctrl):
                ctrl.start(step=0)
                if fg is not None and len(win["rmtm_steps"]):   # the first foreground, before step 0
                    with stage_timer(self.device, timings, "inversion"), refs.own_call():
                        family.denoise_once(x0.with_tensor(branch.latent(0)), branch.timestep(0), ref_emb)
                if asm_on and 0 in win["asm_steps"]:
                    with stage_timer(self.device, timings, "optimization"):
                        z = asm(0, self.initial_latents(seed, x0) * family.init_noise_sigma)
                    latents = z / family.init_noise_sigma
            with stage_timer(self.device, in_call, "call"):
                out = self.sample(case.target_prompt, seed, num_frames=x0.num_frames, fps=x0.fps, controller=ctrl,
                                  output_type=output_type, latents=latents)
        timings["inference"] = in_call["call"] - in_call.get("asm", 0.0)
        if "asm" in in_call:
            timings["optimization"] = timings.get("optimization", 0.0) + in_call["asm"]
        extras = {"backbone": self.spec.name, "seed": int(seed), "subject_tokens": list(positions),
                  "source_subject": case.source_subject, "subject": case.subject, "asm": asm_on,
                  "asm_losses": asm_losses, "foreground_fractions": fg.fractions if fg is not None else [],
                  "rmtm_calls": concat.count,
                  "reference_tokens_per_call": concat.concatenated / concat.count if concat.count else 0.0,
                  "windows": {k: [w.start, w.stop] for k, w in win.items()}, "reference": o.reference,
                  "source_frames": x0.num_frames, "source_frame_repeat": repeat}
        return Run(out, timings, x0.fps, extras)


@GENERATORS.register("lmp-no-fbdm")
class LMPWithoutFBDM(LMP):
    """LMP Table 2 "w/o FBDM": every reference video token is concatenated."""
    defaults: ClassVar[dict[str, Any]] = {**LMP_DEFAULTS, "fbdm": False}


@GENERATORS.register("lmp-no-asm")
class LMPWithoutASM(LMP):
    """LMP Table 2 "w/o ASM"."""
    defaults: ClassVar[dict[str, Any]] = {**LMP_DEFAULTS, "asm": "off"}
