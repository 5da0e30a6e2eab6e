"""V-Warper's two synchronized branches in one pipeline call (Sec. 4.3, App. A).

The batch holds ``[generation, reference]`` (``[uncond gen, uncond ref, cond gen, cond ref]``
under CFG; :mod:`evalkit.generators.methods.vwarper.attention.branches`). The generation starts from the case
seed's noise, drawn exactly as the pipeline draws it for one video (the family's
``seed_generator`` and ``initial_noise``), so without a reference
branch (``injection="none"``) the result is the pipeline's own; the reference starts from its
DDIM-inverted latent and, with ``reference_branch="trajectory"`` (our reading of "synchronized"),
is reset to the inverted latent of every next step from the step callback (``"denoise"``: it is
denoised on its own from z_T). Only the generation is decoded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.generators.attention import (
    AttentionController,
    FeatureStore,
    block_filter,
    controlled,
    self_attention_layers,
)
from evalkit.generators.families.base import Embeds

from .attention.concat_reference import ConcatReference
from .attention.kv_replace import KVReplace
from .attention.rope_free import RecordRopeFree
from .attention.subject_attention import SubjectAttention
from .attention.value_warp import ValueWarp
from .coarse_training import cover_resize
from .field import FieldSettings, StepFields
from .inversion import ddim_inversion
from .masks import SubjectMaps
from .settings import VWarperSettings


@dataclass
class BranchContext:
    """The reference branch of one generation and what its behaviours share."""
    reference: np.ndarray          # (H, W, 3) uint8: the image the branch repeats over time
    reference_name: str
    ref_prompt: str
    ref_embeds: Embeds
    trajectory: list               # DDIM-inverted latents, one per sampling step
    grid: tuple[int, int, int]     # latent token grid (frames, rows, columns)
    rope: Any                      # (cos, sin) of the video tokens, or None
    layers: list[str]              # controllable self-attention layers, in block order
    controller: AttentionController = field(default_factory=AttentionController)
    fields: StepFields | None = None

    def summary(self, behaviours) -> dict[str, Any]:
        acting = [b for b in behaviours if isinstance(b, (ValueWarp, KVReplace, ConcatReference))]
        out: dict[str, Any] = {"reference_image": self.reference_name, "reference_prompt": self.ref_prompt,
                               "token_grid": list(self.grid), "injected_calls": sum(b.count for b in acting)}
        out["warped_tokens"] = sum(getattr(b, "tokens", 0) for b in acting)
        if self.fields is not None:
            out["mask_stats"] = self.fields.stats
        return out


def reference_clip(family, settings: VWarperSettings, case, prompts) -> BranchContext:
    """The reference image repeated over the clip, VAE-encoded and DDIM-inverted (its prompt, no CFG)."""
    images = case.reference_images.load()
    index = settings.reference_image
    if not 0 <= index < len(images):
        raise EvalkitError(f"{case.case_id}: reference_image={index} but the case has {len(images)} reference images")
    h, w, n = settings.height, settings.width, settings.num_frames
    image = cover_resize(images[index], h, w)
    latents = family.encode_video(np.repeat(image[None], n, axis=0), settings.fps)
    ref_prompt = settings.reference_prompt.format(token=case.subject_token, class_noun=case.class_noun)
    ref_embeds = prompts.encode(ref_prompt)
    trajectory = ddim_inversion(family, latents, ref_embeds, settings.steps)
    rope = family.rotary_embeddings(h, w, latents.tensor.shape[1])
    paths = getattr(case.reference_images, "paths", ())
    return BranchContext(image, paths[index].name if index < len(paths) else str(index), ref_prompt, ref_embeds,
                         trajectory, family.token_grid(n, h, w), rope,
                         self_attention_layers(family.denoiser, type(family)))


def branch_behaviours(settings: VWarperSettings, case, prompts, ctx: BranchContext, probe_steps=()) -> list:
    """The attention behaviours of the chosen injection (subject attention, RoPE-free Q/K of the
    match layer, then value warping or key–value replacement; or token concatenation)."""
    s = settings

    def layers(chosen):
        return block_filter(ctx.layers, chosen)

    steps = set(s.warp_steps)
    if s.injection == "token-concat":
        return [ConcatReference(layers=layers(s.warp_layers), passes=s.passes, active=steps.__contains__)]
    match_layer = s.match_layer
    if s.match_from == "current" and s.warp_layers is not None and match_layer >= min(s.warp_layers):
        raise EvalkitError(f"{s.name}: match_from='current' needs the match layer ({match_layer}) "
                           f"before the warped layers ({_spell(s.warp_layers)})")
    if not 0 <= match_layer < len(ctx.layers):
        raise EvalkitError(f"{s.name}: match_layer {match_layer} out of range ({len(ctx.layers)} layers)")
    store, maps = FeatureStore(), SubjectMaps()
    ctx.fields = StepFields(store, maps, FieldSettings(
        ctx.grid, ctx.layers[match_layer], masks=s.masks, tau_fg=s.tau_fg, tau_cc=s.tau_cc,
        fg_normalize=s.fg_normalize, scope=s.scope, head_reduce=s.head_reduce, warp=s.warp,
        match_from=s.match_from))
    shift = 1 if s.match_from == "previous" else 0
    record_steps = {step - shift for step in steps}
    out = []
    if s.masks != "none" or probe_steps:
        words = {"token": [case.subject_token], "class": [case.class_noun],
                 "token+class": [case.subject_token, case.class_noun]}[s.mask_words]
        tokens = {"gen": prompts.positions(case.prompt, words, item=case.case_id),
                  "ref": prompts.positions(ctx.ref_prompt, words, item=f"{case.case_id} (reference prompt)")}
        until = max(list(steps) + [step - 1 for step in probe_steps])
        out.append(SubjectAttention(layers=layers(s.mask_layers), passes="cond", tokens=tokens, sink=maps.add,
                                    softmax=s.fg_softmax, active=lambda step: step <= until))
    out.append(RecordRopeFree(layers=layers([match_layer]), passes="cond", store=store, rope=ctx.rope,
                              active=record_steps.__contains__))
    if s.injection == "kv-replace":
        out.append(KVReplace(layers=layers(s.warp_layers), passes=s.passes, masks=ctx.fields.kv_masks,
                             active=steps.__contains__))
    else:
        out.append(ValueWarp(layers=layers(s.warp_layers), passes=s.passes, warp=ctx.fields.field,
                             active=steps.__contains__))
    return out


def _spell(chosen: tuple[int, ...]) -> str:
    return ",".join(str(i) for i in chosen)


def sample_branches(family, settings: VWarperSettings, prompts, case, seed: int, ctx: BranchContext | None,
                    output_type: str, behaviours=()):
    """Run the pipeline on the generation (and, with ``ctx``, its reference branch); returns the
    generation's frames (``output_type="np"``) or latents."""
    import torch

    s = settings
    pipe = family.pipe
    do_cfg = s.guidance > 1.0
    h, w, n = s.height, s.width, s.num_frames
    cond = prompts.encode(case.prompt).embeds
    neg = prompts.encode(s.negative_prompt).embeds
    g = family.seed_generator(seed)
    latents = family.initial_noise(n, h, w, g, cond.dtype)
    kwargs: dict[str, Any] = dict(height=h, width=w, num_frames=n, num_inference_steps=s.steps,
                                  guidance_scale=s.guidance, generator=g, output_type="latent")
    if ctx is None:
        kwargs.update(prompt_embeds=cond, negative_prompt_embeds=neg if do_cfg else None, latents=latents)
        out = pipe(**kwargs).frames
    else:
        ref = ctx.ref_embeds.embeds
        kwargs.update(prompt_embeds=torch.cat([cond, ref]), negative_prompt_embeds=torch.cat([neg, neg]) if do_cfg
                      else None, latents=torch.cat([latents, ctx.trajectory[0].to(latents)]),
                      callback_on_step_end=_step_callback(ctx, s.reference_branch))
        ctx.controller.behaviours = list(behaviours)
        with controlled(family.denoiser, type(family), ctx.controller, cfg="batched" if do_cfg else "none"):
            out = pipe(**kwargs).frames
    out = out[:1]
    if output_type == "latent":
        return out
    return family.decode_video(out)


def _step_callback(ctx: BranchContext, mode: str):
    def callback(pipe, i, t, kwargs):
        ctx.controller.on_step_end(pipe, i, t, kwargs)
        if mode == "trajectory" and i + 1 < len(ctx.trajectory):
            latents = kwargs["latents"].clone()
            latents[1] = ctx.trajectory[i + 1].to(latents)[0]
            return {"latents": latents}
        return {}
    return callback
