"""V-Warper's two synchronized branches in one pipeline call (Sec. 4.3, App. A).

The batch holds ``[generation, reference]`` (``[uncond gen, uncond ref, cond gen, cond ref]``
under CFG; :mod:`evalkit.generators.methods.vwarper.attention.branches`). The generation starts from the case
seed's noise, drawn exactly as ``CogVideoXPipeline`` draws it for one video, so without a reference
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

from evalkit.generators.settings import parse_blocks
from .attention.concat_reference import ConcatReference
from .attention.kv_replace import KVReplace
from .attention.rope_free import RecordRopeFree
from .attention.subject_attention import SubjectAttention
from .attention.value_warp import ValueWarp
from .coarse_training import cover_resize
from .field import FieldSettings, StepFields
from .inversion import ddim_inversion
from .masks import SubjectMaps


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


def token_grid(pipe, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
    cfg = pipe.transformer.config
    frames = (num_frames - 1) // pipe.vae_scale_factor_temporal + 1
    p, pt = cfg.patch_size, cfg.patch_size_t or 1
    s = pipe.vae_scale_factor_spatial * p
    return (frames + pt - 1) // pt, height // s, width // s


def indices(spec) -> tuple[int, ...] | None:
    """Layer or step indices: ``"20-29"``, ``"1,3"``, a list, one int, or ``"all"`` (None)."""
    return parse_blocks(str(spec) if isinstance(spec, int) else spec)


def reference_clip(gen, case, prompts) -> BranchContext:
    """The reference image repeated over the clip, VAE-encoded and DDIM-inverted (its prompt, no CFG)."""
    images = case.reference_images.load()
    index = int(gen.options["reference_image"])
    if not 0 <= index < len(images):
        raise EvalkitError(f"{case.case_id}: reference_image={index} but the case has {len(images)} reference images")
    h, w, n = int(gen.opt("height")), int(gen.opt("width")), int(gen.options["num_frames"])
    image = cover_resize(images[index], h, w)
    latents = gen.family.encode_video(np.repeat(image[None], n, axis=0), gen.fps)
    ref_prompt = gen.options["reference_prompt"].format(token=case.subject_token, class_noun=case.class_noun)
    ref_embeds = prompts.encode(ref_prompt)
    trajectory = ddim_inversion(gen.family, latents, ref_embeds, int(gen.opt("steps")))
    pipe = gen.pipe
    rope = (pipe._prepare_rotary_positional_embeddings(h, w, latents.tensor.shape[1], gen.device)
            if pipe.transformer.config.use_rotary_positional_embeddings else None)
    paths = getattr(case.reference_images, "paths", ())
    return BranchContext(image, paths[index].name if index < len(paths) else str(index), ref_prompt, ref_embeds,
                         trajectory, token_grid(pipe, n, h, w), rope,
                         self_attention_layers(gen.family.denoiser, type(gen.family)))


def branch_behaviours(gen, case, prompts, ctx: BranchContext, probe_steps=()) -> list:
    """The attention behaviours of the chosen injection (subject attention, RoPE-free Q/K of the
    match layer, then value warping or key–value replacement; or token concatenation)."""
    o = gen.options

    def layers(spec):
        return block_filter(ctx.layers, indices(spec))

    steps = set(gen.warp_steps)
    warp_layers = indices(o["warp_layers"])
    if o["injection"] == "token-concat":
        return [ConcatReference(layers=layers(o["warp_layers"]), passes=o["passes"], active=steps.__contains__)]
    match_layer = int(o["match_layer"])
    if o["match_from"] == "current" and warp_layers is not None and match_layer >= min(warp_layers):
        raise EvalkitError(f"{gen.registry_name}: match_from='current' needs the match layer ({match_layer}) "
                           f"before the warped layers ({o['warp_layers']})")
    if not 0 <= match_layer < len(ctx.layers):
        raise EvalkitError(f"{gen.registry_name}: match_layer {match_layer} out of range ({len(ctx.layers)} layers)")
    store, maps = FeatureStore(), SubjectMaps()
    ctx.fields = StepFields(store, maps, FieldSettings(
        ctx.grid, ctx.layers[match_layer], masks=o["masks"], tau_fg=float(o["tau_fg"]), tau_cc=float(o["tau_cc"]),
        fg_normalize=o["fg_normalize"], scope=o["scope"], head_reduce=o["head_reduce"], warp=o["warp"],
        match_from=o["match_from"]))
    shift = 1 if o["match_from"] == "previous" else 0
    record_steps = {s - shift for s in steps}
    out = []
    if o["masks"] != "none" or probe_steps:
        words = {"token": [case.subject_token], "class": [case.class_noun],
                 "token+class": [case.subject_token, case.class_noun]}[o["mask_words"]]
        tokens = {"gen": prompts.positions(case.prompt, words, item=case.case_id),
                  "ref": prompts.positions(ctx.ref_prompt, words, item=f"{case.case_id} (reference prompt)")}
        until = max(list(steps) + [s - 1 for s in probe_steps])
        out.append(SubjectAttention(layers=layers(o["mask_layers"]), passes="cond", tokens=tokens, sink=maps.add,
                                    softmax=o["fg_softmax"], active=lambda s: s <= until))
    out.append(RecordRopeFree(layers=layers([match_layer]), passes="cond", store=store, rope=ctx.rope,
                              active=record_steps.__contains__))
    if o["injection"] == "kv-replace":
        out.append(KVReplace(layers=layers(o["warp_layers"]), passes=o["passes"], masks=ctx.fields.kv_masks,
                             active=steps.__contains__))
    else:
        out.append(ValueWarp(layers=layers(o["warp_layers"]), passes=o["passes"], warp=ctx.fields.field,
                             active=steps.__contains__))
    return out


def sample_branches(gen, prompts, case, seed: int, ctx: BranchContext | None, output_type: str,
                    behaviours=()):
    """Run the pipeline on the generation (and, with ``ctx``, its reference branch); returns the
    generation's frames (``output_type="np"``) or latents."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    pipe, family = gen.pipe, gen.family
    do_cfg = gen.guidance > 1.0
    h, w, n = int(gen.opt("height")), int(gen.opt("width")), int(gen.options["num_frames"])
    cond = prompts.encode(case.prompt).embeds
    neg = prompts.encode(gen.options["negative_prompt"]).embeds
    g = torch.Generator(device="cpu" if not str(gen.device).startswith("cuda") else gen.device).manual_seed(int(seed))
    shape = (1, (n - 1) // pipe.vae_scale_factor_temporal + 1, pipe.transformer.config.in_channels,
             h // pipe.vae_scale_factor_spatial, w // pipe.vae_scale_factor_spatial)
    latents = randn_tensor(shape, generator=g, device=torch.device(gen.device), dtype=cond.dtype)
    kwargs: dict[str, Any] = dict(height=h, width=w, num_frames=n, num_inference_steps=int(gen.opt("steps")),
                                  guidance_scale=gen.guidance, generator=g, output_type="latent")
    if ctx is None:
        kwargs.update(prompt_embeds=cond, negative_prompt_embeds=neg if do_cfg else None, latents=latents)
        out = pipe(**kwargs).frames
    else:
        ref = ctx.ref_embeds.embeds
        kwargs.update(prompt_embeds=torch.cat([cond, ref]), negative_prompt_embeds=torch.cat([neg, neg]) if do_cfg
                      else None, latents=torch.cat([latents, ctx.trajectory[0].to(latents)]),
                      callback_on_step_end=_step_callback(ctx, gen.options["reference_branch"]))
        ctx.controller.behaviours = list(behaviours)
        with controlled(family.denoiser, type(family), ctx.controller, cfg="batched" if do_cfg else "none"):
            out = pipe(**kwargs).frames
    out = out[:1]
    if output_type == "latent":
        return out
    with torch.no_grad():
        video = pipe.decode_latents(out)
    return pipe.video_processor.postprocess_video(video=video, output_type="np")


def _step_callback(ctx: BranchContext, mode: str):
    def callback(pipe, i, t, kwargs):
        ctx.controller.on_step_end(pipe, i, t, kwargs)
        if mode == "trajectory" and i + 1 < len(ctx.trajectory):
            latents = kwargs["latents"].clone()
            latents[1] = ctx.trajectory[i + 1].to(latents)[0]
            return {"latents": latents}
        return {}
    return callback
