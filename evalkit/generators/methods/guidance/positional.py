"""The positional embedding ρ of a DiT as an optimisation variable (DiTFlow Sec. 4.3, App. A).

ρ is written ρ₀ + δ with δ (float32, created as zeros at the first forward) the variable
Adam updates: Adam's steps depend only on the gradients, so this is optimising ρ itself from
ρ₀. Where ρ lives differs per model family: the family installs the hooks
(:meth:`~evalkit.generators.families.base.ModelFamily.offset_positional_embedding`; CogVideoX:
the RoPE or the sin-cos embedding of ``patch_embed``, Wan: the ``rope`` module's output).

``active`` switches δ on (guided steps) or off (ρ₀: DiTFlow Alg. 1 line 23); ``delta`` can be
saved per step and set again for zero-shot reuse with another prompt (Sec. 5.3, Fig. 7).
"""
from __future__ import annotations

from evalkit.errors import EvalkitError


class PositionalOffset:
    """δ on the positional embedding of ``family``'s denoiser (a DiT) while installed."""

    def __init__(self, family) -> None:
        self.family = family
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
        self._hooks = self.family.offset_positional_embedding(self.apply)
        return self

    def __exit__(self, *exc) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
