"""The positional embedding ρ of a DiT as an optimisation variable (DiTFlow Sec. 4.3, App. A).

ρ is written ρ₀ + δ with δ (float32, created as zeros at the first forward) the variable
Adam updates: Adam's steps depend only on the gradients, so this is optimising ρ itself from
ρ₀. Where ρ lives differs per model family (one applier each, keyed by the family's name):

- CogVideoX-5B style (``use_rotary_positional_embeddings``): the RoPE (cos, sin) the pipeline
  passes as ``image_rotary_emb`` (every block applies it to Q and K);
- CogVideoX-2B style: the 3D sin-cos embedding added to the video tokens in ``patch_embed``;
- Wan: the (cos, sin) returned by the transformer's ``rope`` module.

``active`` switches δ on (guided steps) or off (ρ₀: DiTFlow Alg. 1 line 23); ``delta`` can be
saved per step and set again for zero-shot reuse with another prompt (Sec. 5.3, Fig. 7).
"""
from __future__ import annotations

from typing import Callable

from evalkit.errors import EvalkitError


class PositionalOffset:
    """δ on the positional embedding of ``model`` (a DiT of family ``family``) while installed."""

    def __init__(self, model, family: str) -> None:
        if family not in APPLIERS:
            raise EvalkitError(f"positional-embedding optimisation: model family {family!r} is not supported "
                               f"(supported: {', '.join(sorted(APPLIERS))})")
        self.model, self.family = model, family
        self.delta: list | None = None
        self.active = False
        self._hooks: list = []

    def apply(self, tensors: tuple, *, batched: bool = False) -> tuple:
        """``tensors`` (ρ₀ parts) -> ρ₀ + δ when active, creating δ = 0 at the first call;
        ``batched``: dim 0 is the batch (CFG rows), δ is shared by all rows."""
        import torch

        if not self.active:
            return tensors
        shapes = [((1,) + tuple(t.shape[1:])) if batched else tuple(t.shape) for t in tensors]
        if self.delta is None:
            self.delta = [torch.zeros(s, dtype=torch.float32, device=t.device, requires_grad=True)
                          for s, t in zip(shapes, tensors)]
        if [tuple(d.shape) for d in self.delta] != shapes:
            raise EvalkitError(f"positional embedding of shape {shapes} does not match "
                               f"the optimised one {[tuple(d.shape) for d in self.delta]}")
        return tuple((t.float() + d).to(t.dtype) for t, d in zip(tensors, self.delta))

    def parameters(self) -> list:
        return list(self.delta or [])

    def set_delta(self, delta: list | None) -> None:
        self.delta = [d.detach().clone().requires_grad_(True) for d in delta] if delta else None

    def __enter__(self) -> "PositionalOffset":
        self._hooks = APPLIERS[self.family](self.model, self)
        return self

    def __exit__(self, *exc) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []


def _cogvideox(model, offset: PositionalOffset) -> list:
    if model.config.use_rotary_positional_embeddings:
        def rope_kwarg(module, args, kwargs):
            rope = kwargs.get("image_rotary_emb")
            if rope is None:
                raise EvalkitError("CogVideoX: the transformer was called without image_rotary_emb")
            return args, {**kwargs, "image_rotary_emb": offset.apply(tuple(rope))}
        return [model.register_forward_pre_hook(rope_kwarg, with_kwargs=True)]

    def add_to_video_tokens(module, args, output):
        import torch

        if not offset.active:
            return output
        text_len = args[0].shape[1]   # patch_embed(text_embeds, image_embeds): text tokens first
        video = offset.apply((output[:, text_len:],), batched=True)[0]
        return torch.cat([output[:, :text_len], video], dim=1)
    return [model.patch_embed.register_forward_hook(add_to_video_tokens)]


def _wan(model, offset: PositionalOffset) -> list:
    def rope_output(module, args, output):
        return offset.apply(tuple(output))
    return [model.rope.register_forward_hook(rope_output)]


#: family name -> installer of the hooks that add δ to that family's ρ
APPLIERS: dict[str, Callable] = {"cogvideox": _cogvideox, "wan": _wan}
