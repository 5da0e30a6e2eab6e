"""The three denoising passes of one Video Storyboarding set (MbQ App. B.14), from one initial noise:
vanilla (Q cache and Q-flow matches), consistent without refinement (DIFT features -> matches) and
the final consistent pass with refinement injection. :class:`SetPasses` takes the model family, the
resolved :class:`~.run_settings.StoryboardRunSettings` and ``sample`` (the generator's pipeline call
for the set, with its prompts, seed, clip and initial latents bound). The phase windows, layer sets
and frame layout of a set are functions of ``(family, settings)`` here.
"""
from __future__ import annotations

from typing import Any, Callable

from evalkit.errors import EvalkitError

from .run_settings import DECODER_PREFIXES, StoryboardRunSettings


def set_layout(family, settings: StoryboardRunSettings, shots: int, num_frames: int):
    """The frame layout of a set's attention rows (U-Net: frames as rows; DiT: latent frames in tokens)."""
    from evalkit.generators.attention.frames import FrameLayout

    if family.architecture == "unet":
        return FrameLayout(shots, num_frames, frames_in_rows=True)
    factor = family.temporal_factor()
    if (num_frames - 1) % factor:
        raise EvalkitError(f"{settings.method}: num_frames={num_frames} must be k·{factor}+1 on {settings.backbone}")
    return FrameLayout(shots, (num_frames - 1) // factor + 1, frames_in_rows=False)


def layer_sets(family, settings: StoryboardRunSettings) -> dict[str, Any]:
    """Every controlled self-attention layer ("names"), the SDSA layers ("sdsa", a predicate) and
    the layers whose Q is preserved / flowed ("q")."""
    from evalkit.generators.attention import block_filter, self_attention_layers

    names = self_attention_layers(family.denoiser, type(family))
    decoder = [n for n in names if n.startswith(DECODER_PREFIXES)]
    sdsa = names if settings.sdsa_layers == "all" else decoder
    if not sdsa:
        raise EvalkitError(f"{settings.method}: no decoder ({'/'.join(DECODER_PREFIXES)}) self-attention "
                           f"layers on {settings.backbone}; use sdsa_layers=all")
    return {"names": names, "sdsa": set(sdsa).__contains__, "q": block_filter(names, settings.q_blocks)}


def step_timesteps(sampler_timesteps: list[float], numbering: str) -> list[float]:
    """The timestep each denoising step is compared with in the phase windows: the sampler's own
    (``"sampler"``; VideoCrafter2's 50 DDIM steps: 981, 961, …, 1) or the paper's numbering of an
    N-step schedule, t_i = 1000·(1 − i/N) (``"paper"``: MbQ Sec. 3's "t = 1000, 980, …", which
    ``mbq`` maps to VideoCrafter2's 981, 961, …)."""
    if numbering == "sampler":
        return list(sampler_timesteps)
    n = len(sampler_timesteps)
    return [1000.0 * (1.0 - i / n) for i in range(n)]


def phase_windows(family, settings: StoryboardRunSettings) -> dict[str, Any]:
    """Denoising step indices of each phase, from the schedule's timesteps (t in [0, 1000]; see
    :func:`step_timesteps`). The DIFT step is always the sampler's (ConsiStory's t = 261 is its
    sampler's timestep)."""
    s = settings
    sampler = [float(t) for t in family.schedule(s.steps).timesteps]
    ts = step_timesteps(sampler, s.window_timesteps)
    pres = s.t_pres if s.q_mode == "preserve+flow" else float("-inf")
    none = s.q_mode == "none"
    (slo, shi), (rlo, rhi) = s.sdsa_window, s.refine_window
    return {"timesteps": ts,
            "pres": set() if none else {i for i, t in enumerate(ts) if t >= pres},
            "flow": set() if none else {i for i, t in enumerate(ts) if t < pres},
            "sdsa": {i for i, t in enumerate(ts) if slo <= t <= shi},
            "refine": {i for i, t in enumerate(ts) if rlo <= t <= rhi} if s.refine else set(),
            "dift": min(range(len(sampler)), key=lambda i: abs(sampler[i] - s.dift_timestep)),
            # ConsiStory's query blend (only with query_blend, so that other runs' extras are unchanged):
            # its first tenth of the steps, where extended attention acts
            **({"blend": {i for i, t in enumerate(ts) if i <= s.steps // 10 and slo <= t <= shi}}
               if s.query_blend == "consistory" else {})}


def step_dropout(token_masks: Callable, dropout: float, generator) -> Callable:
    """ConsiStory's mask dropout (utils/ptp_utils.py, ``aggregate_attention``: one draw per step and
    resolution into ``last_mask_dropout``): ``token_masks(step, per_frame)`` with each subject token
    dropped with probability ``dropout``, drawn once per (step, tokens per frame) and shared by every
    layer, attender and CFG pass of that step."""
    import torch

    drawn: dict = {}

    def masks(step: int, per_frame: int):
        m = token_masks(step, per_frame)
        if m is None:
            return None
        if (step, per_frame) not in drawn:
            keep = torch.rand(m.shape, generator=generator) >= dropout
            drawn[(step, per_frame)] = m & keep.to(m.device)
        return drawn[(step, per_frame)]

    return masks


class SetPasses:
    """The passes of one set: shared noise, windows, layers and masks."""

    def __init__(self, family, settings: StoryboardRunSettings, *, sample: Callable, segmenter, subject: str,
                 shots: int, seed: int, layout, cfg: str, guidance: float) -> None:
        self.family, self.settings, self.sample = family, settings, sample
        self.segmenter, self.subject, self.seed, self.layout = segmenter, subject, seed, layout
        self.cfg, self.guidance = cfg, guidance
        self.shots = shots
        self.anchors = tuple(range(min(settings.anchors, shots)))
        self.w = phase_windows(family, settings)
        self.layers = layer_sets(family, settings)
        self.cache = "cpu" if settings.q_cache == "cpu" else None
        self.counts: dict[str, int] = {}
        self.vanilla_masks = None
        self._masks: list = []

    def _sample(self, controller, output_type: str = "latent", hooks=()):
        return self.sample(controller=controller, output_type=output_type, hooks=hooks)

    def _masks_hook(self, steps: set, lag: int, dift: bool):
        """A subject-mask tracker and a maker of the x̂0 hook that feeds it during a pass driven by a
        given controller (masks for step s from x̂0 of step s - lag)."""
        from evalkit.generators.x0 import X0Hook, decode_frames

        from .subject_masks import SubjectMasks

        family = self.family
        masks = SubjectMasks(self.segmenter, self.subject, lambda x0: decode_frames(family, x0))
        self._masks.append(masks)
        dift_step = self.w["dift"]

        def on_x0(step: int, x0) -> None:
            if step + lag in steps:
                masks.update(step + lag, x0)
            if dift and step == dift_step:
                masks.update("dift", x0)

        sched = family.schedule(self.settings.steps)
        return masks, lambda ctrl: X0Hook(family.denoiser, sched, self.cfg, self.guidance, on_x0, lambda: ctrl.step)

    def vanilla(self, store) -> None:
        from evalkit.generators.attention import AttentionController
        from evalkit.generators.attention.q_preserve import RecordAt

        from .q_flow import FlowRecord

        s = self.settings
        record = [RecordAt(store=store, what=("q",), layers=self.layers["q"], passes=s.q_passes,
                           active=self.w["pres"].__contains__, device=self.cache),
                  FlowRecord(store=store, layout=self.layout, key_frame_stride=s.key_frame_stride,
                             layers=self.layers["q"], passes=s.q_passes, active=self.w["flow"].__contains__,
                             device=self.cache)]
        if self.w.get("blend"):   # the query blend's vanilla Q: the SDSA layers at the blend steps
            record.append(RecordAt(store=store, what=("q",), layers=self.layers["sdsa"], passes=s.sdsa_passes,
                                   active=self.w["blend"].__contains__, device=self.cache))
        ctrl, hooks = AttentionController(record), []
        if s.mask_source == "vanilla":
            self.vanilla_masks, hook = self._masks_hook(self.w["sdsa"], 0, dift=True)
            hooks.append(hook(ctrl))
        self._sample(ctrl, hooks=hooks)

    def behaviours(self, store, masks) -> list[tuple[str, Any]]:
        """(extras name of its count, behaviour) of the consistent passes, in the order they act."""
        import torch

        from evalkit.generators.attention.q_preserve import PreserveQ
        from evalkit.generators.attention.sdsa import FramewiseSDSA

        from .q_blend import BlendQ, blend_strengths
        from .q_flow import QFlow

        s, device = self.settings, self.family.device
        draws = torch.Generator().manual_seed(int(self.seed))   # the same dropout draws in every pass
        frames = self.layout.frames

        def token_masks(step: int, per_frame: int):
            return masks.tokens(step, frames, per_frame, device)

        step_draw = s.sdsa_dropout_draw == "step" and s.sdsa_dropout > 0
        if step_draw:
            token_masks = step_dropout(token_masks, s.sdsa_dropout, draws)

        named = [("q_preserved", PreserveQ(store=store, what=("q",), layers=self.layers["q"], passes=s.q_passes,
                                           active=self.w["pres"].__contains__, dropout=s.q_dropout,
                                           generator=draws)),
                 ("q_flowed", QFlow(store=store, layout=self.layout, key_frame_stride=s.key_frame_stride,
                                    layers=self.layers["q"], passes=s.q_passes, active=self.w["flow"].__contains__,
                                    dropout=s.q_dropout, generator=draws))]
        if "blend" in self.w:
            named.append(("q_blended", BlendQ(store=store, strengths=tuple(blend_strengths(s.steps)),
                                              layers=self.layers["sdsa"], passes=s.sdsa_passes,
                                              active=self.w["blend"].__contains__)))
        named.append(("sdsa_calls", FramewiseSDSA(layout=self.layout, anchors=self.anchors, masks=token_masks,
                                                  frames=s.sdsa_frames, layers=self.layers["sdsa"],
                                                  passes=s.sdsa_passes, active=self.w["sdsa"].__contains__,
                                                  dropout=0.0 if step_draw else s.sdsa_dropout, generator=draws)))
        return named

    def _consistent_pass(self, store, *, dift: bool, refine=None, output_type: str = "latent"):
        from evalkit.generators.attention import AttentionController

        hook = None
        if self.vanilla_masks is not None:
            masks = self.vanilla_masks
        else:
            masks, hook = self._masks_hook(self.w["sdsa"], 1, dift=dift)
        named = self.behaviours(store, masks)
        ctrl = AttentionController([b for _, b in named])
        hooks = [hook(ctrl)] if hook is not None and self.shots > 1 else []   # one shot: no masks needed
        extra = [f(ctrl) for f in (refine, self._dift_capture if dift else None) if f is not None]
        out = self._sample(ctrl, output_type, hooks + extra)
        for name, b in named:
            self.counts[name] = int(b.count)
        return out, masks, extra

    def _dift_capture(self, ctrl):
        from .dift import DiftCapture, default_dift_module

        family, module = self.family, self.settings.dift_module
        if module is None:
            module = default_dift_module(family, self.layers["names"])
        self.dift = DiftCapture(family.denoiser, module, self.layout, self.cfg, self.w["dift"], lambda: ctrl.step)
        return self.dift

    def dift_pass(self, store):
        """Pass 2: the consistent generation without refinement; DIFT matches for pass 3."""
        from evalkit.generators.attention.frames import token_grid

        from .dift import gaussian_smooth
        from .refine import anchor_matches

        _, masks, _ = self._consistent_pass(store, dift=True)
        feats = self.dift.features
        method = self.settings.method
        if feats is None:
            raise EvalkitError(f"{method}: no DIFT features were captured at step {self.w['dift']}")
        subject = masks.tokens("dift", feats.shape[1], feats.shape[2], feats.device)
        if subject is None:
            raise EvalkitError(f"{method}: no subject masks at the DIFT step {self.w['dift']}")
        s = self.settings
        if s.dift_smoothing == "gaussian3":
            feats = gaussian_smooth(feats, token_grid(feats.shape[2], s.height, s.width))
        return anchor_matches(feats, subject, self.anchors, threshold=s.refine_threshold)

    def consistent(self, store, matches, output_type: str):
        """The final pass (with refinement injection when ``matches`` are given)."""
        from .refine import RefinementInjection

        refine, s = None, self.settings
        if matches is not None:
            def refine(ctrl):
                return RefinementInjection(self.family.denoiser, self.layers["names"], self.layout, *matches,
                                           alpha=s.refine_alpha, active=self.w["refine"].__contains__,
                                           step=lambda: ctrl.step, cfg=self.cfg, passes=s.refine_passes)
        out, _, extra = self._consistent_pass(store, dift=False, refine=refine, output_type=output_type)
        self.counts["refined_calls"] = int(extra[0].count) if extra else 0
        return out

    def mask_stats(self) -> dict[str, Any]:
        empty = sum(m.empty_frames for m in self._masks)
        reasons = [m.first_empty_reason for m in self._masks if m.first_empty_reason]
        fraction = sum(m.subject_fraction() for m in self._masks) / max(1, len(self._masks))
        return {"mask_subject_fraction": float(fraction),
                "mask_empty_frames": int(empty), "mask_empty_reason": reasons[0] if reasons else ""}
