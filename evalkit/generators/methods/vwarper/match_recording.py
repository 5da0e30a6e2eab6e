"""The generator side of the correspondence probe: V-Warper's internal cross-branch matches per
feature type, layer and step (Sec. 4.2, App. B.1), as a
:class:`~evalkit.analyses.correspondence.ProbeRecording`.

The generation runs as usual (dual branch, warping as configured: "videos are generated using
our dual-branch inference setup"); at the probe steps every selected layer's conditional
(generation, reference) pair is matched with V-Warper's own matcher (Eq. 3–4, row argmax) on
three descriptors: the block's output hidden states (``intermediate``), Q/K as the attention
uses them (``raw-qk``, after RoPE) and Q/K with RoPE undone (``rope-free-qk``). The frame that
stands for latent frame f is pixel frame 0 for f = 0 and the middle of its group, k·f − k/2
(k the VAE's temporal factor), after that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit.analyses.correspondence import ProbeRecording
from evalkit.errors import EvalkitError
from evalkit.generators.attention import AttentionCall, Behaviour, block_filter

from .attention.branches import branch_pairs, video_tokens
from .attention.rope_free import unrotate
from .correspondence import match
from .settings import VWarperSettings


@dataclass(kw_only=True)
class ProbeMatches(Behaviour):
    """Raw and RoPE-free Q/K matches of the conditional pair at the probe steps."""
    steps: frozenset
    index: dict                  # layer name -> block index
    grid: tuple[int, int, int]
    rope: Any = None
    scope: str = "frame"
    head_reduce: str = "concat"
    matches: dict = field(default_factory=dict)

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        if call.step not in self.steps:
            return
        gen, ref = branch_pairs(rows)[-1]
        q_g, k_g, q_r, k_r = (video_tokens(call, w, row) for w, row in (("q", gen), ("k", gen), ("q", ref), ("k", ref)))
        layer = self.index[call.layer]
        self.matches[("raw-qk", layer, call.step)] = self._match(q_g, k_r, q_r, k_g)
        if call.rope and self.rope is not None:
            q_g, k_g, q_r, k_r = (unrotate(t[None], self.rope, "BHSD")[0] for t in (q_g, k_g, q_r, k_r))
        self.matches[("rope-free-qk", layer, call.step)] = self._match(q_g, k_r, q_r, k_g)

    def _match(self, q_g, k_r, q_r, k_g) -> np.ndarray:
        return match(q_g, k_r, q_r, k_g, self.grid, scope=self.scope,
                     head_reduce=self.head_reduce).gen_to_ref.cpu().numpy()

    def block_hook(self, controller, block_index: int):
        """A forward hook on block ``block_index``: matches of its output hidden states (one head)."""
        def hook(module, args, output) -> None:
            if controller.step not in self.steps:
                return
            hidden = output[0]
            gen, ref = branch_pairs(controller.rows(hidden.shape[0], "cond"))[-1]
            h_g, h_r = hidden[gen][None], hidden[ref][None]
            self.matches[("intermediate", block_index, controller.step)] = self._match(h_g, h_r, h_r, h_g)
        return hook


def latent_frame_pixels(num_latent: int, num_frames: int, factor: int) -> list[int]:
    return [0] + [min(num_frames - 1, factor * f - factor // 2) for f in range(1, num_latent)]


class ProbeSession:
    """One probed generation: :meth:`observe` is the generator's ``run(observe=...)`` hook (it adds
    :class:`ProbeMatches` and the block-output hooks), :meth:`close` removes the hooks, and
    :meth:`recording` packs the matches with the generated frames."""

    def __init__(self, family, settings: VWarperSettings, steps: tuple[int, ...], layers=None) -> None:
        if settings.injection not in ("value-warp", "kv-replace"):
            raise EvalkitError(f"{settings.name}: the correspondence probe needs the matching branch "
                               f"(injection value-warp or kv-replace), not {settings.injection!r}")
        self.family, self.settings, self.steps, self.layers = family, settings, tuple(steps), layers
        self.ctx: Any = None
        self.probe: ProbeMatches | None = None
        self.hooks: list = []

    def observe(self, ctx) -> list:
        layers = self.layers
        probe = ProbeMatches(layers=block_filter(ctx.layers, layers), passes="cond", steps=frozenset(self.steps),
                             index={name: i for i, name in enumerate(ctx.layers)}, grid=ctx.grid, rope=ctx.rope,
                             scope=self.settings.scope, head_reduce=self.settings.head_reduce)
        blocks = self.family.denoiser.transformer_blocks
        chosen = range(len(ctx.layers)) if layers is None else [int(i) for i in layers]
        self.ctx, self.probe = ctx, probe
        self.hooks = [blocks[i].register_forward_hook(probe.block_hook(ctx.controller, i)) for i in chosen]
        return [probe]

    def close(self) -> None:
        for h in self.hooks:
            h.remove()
        self.hooks = []

    def recording(self, case, frames) -> ProbeRecording:
        ctx, probe = self.ctx, self.probe
        if probe is None:
            raise EvalkitError("match recording: observe() was not called before recording()")
        video = (np.clip(np.asarray(frames[0], np.float32), 0, 1) * 255).round().astype(np.uint8)
        picks = latent_frame_pixels(ctx.grid[0], len(video), self.family.temporal_factor())
        foreground = {s: ctx.fields.foreground("gen", s).cpu().numpy() for s in self.steps}
        return ProbeRecording(case.case_id, video[picks], ctx.reference, ctx.grid, dict(probe.matches), foreground)
