"""V-Warper's per-step warp field: matches of the match layer's RoPE-free Q/K, then the masks.

At step t (``match_from="previous"``, as Sec. 4.3 says) the correspondences come from the match
layer's RoPE-free Q/K of step t − 1, recorded by
:class:`~evalkit.generators.methods.vwarper.attention.rope_free.RecordRopeFree` (``"current"``: of step t, the
match layer running before the warped layers). The foreground uses the subject attention of the
steps before t. One field per step, shared by every warped layer and both CFG passes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from evalkit.errors import EvalkitError
from evalkit.generators.attention.store import FeatureStore

from .attention.value_warp import WarpField
from .correspondence import cycle_error, match
from .masks import SubjectMaps, cycle_mask, foreground_mask

MASKS = ("fg+cc", "fg", "cc", "none")
WARPS = ("gather", "splat")
MATCH_FROM = ("previous", "current")


@dataclass(frozen=True)
class FieldSettings:
    grid: tuple[int, int, int]     # latent token grid (frames, rows, columns)
    match_layer: str
    masks: str = "fg+cc"
    tau_fg: float = 0.3
    tau_cc: float = 0.1
    fg_normalize: str = "video"
    scope: str = "frame"
    head_reduce: str = "concat"
    warp: str = "gather"
    match_from: str = "previous"

    def __post_init__(self) -> None:
        for name, allowed in (("masks", MASKS), ("warp", WARPS), ("match_from", MATCH_FROM)):
            if getattr(self, name) not in allowed:
                raise EvalkitError(f"V-Warper: {name} {getattr(self, name)!r} not in {allowed}")


def _rows(recorded):
    """A recorded (generation, reference) pair as two ``[heads, tokens, dim]`` tensors."""
    t = recorded.tensor if recorded.layout == "BHSD" else recorded.tensor.transpose(1, 2)
    if t.shape[0] != 2:
        raise EvalkitError(f"V-Warper: expected the (generation, reference) rows, got {t.shape[0]}")
    return t[0], t[1]


@dataclass
class StepFields:
    store: FeatureStore
    maps: SubjectMaps
    settings: FieldSettings
    stats: list[dict] = field(default_factory=list)
    _fields: dict = field(default_factory=dict)

    def matches(self, step: int):
        s = self.settings
        source = step - 1 if s.match_from == "previous" else step
        q, k = (self.store.lookup(s.match_layer, w, source) for w in ("q", "k"))
        if q is None or k is None:
            raise EvalkitError(f"V-Warper: no RoPE-free Q/K of {s.match_layer} at step {source} to match with at "
                               f"step {step} (match_from={s.match_from!r}; the match layer must run at that step"
                               + (" and before the warped layers)" if s.match_from == "current" else ")"))
        (q_gen, q_ref), (k_gen, k_ref) = _rows(q), _rows(k)
        for key in [key for key in self.store if key[0] == s.match_layer and key[2] < source]:
            del self.store[key]  # older steps are never matched again
        return match(q_gen, k_ref, q_ref, k_gen, s.grid, scope=s.scope, head_reduce=s.head_reduce)

    def foreground(self, branch: str, step: int):
        import torch

        s = self.settings
        attention = self.maps.mean(branch, before=step)
        n = s.grid[0] * s.grid[1] * s.grid[2]
        if attention is None:
            return torch.zeros(n, dtype=torch.bool)
        return foreground_mask(attention, s.grid, s.tau_fg, s.fg_normalize)

    def field(self, step: int) -> WarpField:
        """The warp field of ``step`` (computed on first use, then cached)."""
        import torch

        if step in self._fields:
            return self._fields[step]
        s = self.settings
        m = self.matches(step)
        fg = self.foreground("gen", step).to(m.gen_to_ref.device)
        cc = cycle_mask(cycle_error(m, s.grid), fg, s.grid, s.tau_cc)
        mask = {"fg+cc": fg & cc, "fg": fg, "cc": cc, "none": torch.ones_like(fg)}[s.masks]
        source = m.gen_to_ref
        if s.warp == "splat":
            source, mask = m.splat_source, mask & m.splat_hit
        self._fields[step] = WarpField(source, mask)
        self.stats.append({"step": step, "foreground": float(fg.float().mean()), "cycle_consistent":
                           float(cc.float().mean()), "injected": float(mask.float().mean())})
        return self._fields[step]

    def kv_masks(self, step: int):
        """(M_gen, M_ref) of App. B.2's key–value replacement: the injection mask and the
        reference branch's foreground (all tokens when masking is off)."""
        import torch

        gen = self.field(step).mask
        ref = torch.ones_like(gen) if self.settings.masks == "none" else self.foreground("ref", step).to(gen.device)
        return gen, ref
