"""The attention controller: per-step context shared by every control processor of one model.

It knows the denoising step and which rows of a call belong to the conditional pass, and hands
each self-attention call, as an :class:`AttentionCall`, to its behaviours in order (record,
inject, extend, ...: one small strategy per file). It holds no method logic itself.

Step index: advanced from the pipeline's step callback (``on_step_end`` for
``callback_on_step_end``, ``legacy_callback`` for ``TextToVideoSDPipeline``) or set with
:meth:`start` by code that calls the denoiser itself. :meth:`on_denoiser_call` (a forward
pre-hook installed by :class:`~evalkit.generators.attention.install.controlled`) counts the
denoiser calls within a step, so the conditional pass is known for sequential CFG (Wan: the
conditional call first) as well as for batched CFG (``[uncond, cond]`` rows in one call).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from evalkit.errors import EvalkitError

PASSES = ("cond", "both")
#: "none": one conditional call per step; "batched": [uncond, cond] rows in one call;
#: "sequential": the conditional call first, then the unconditional one
CFG_MODES = ("none", "batched", "sequential")


def every_layer(name: str) -> bool:
    return True


@dataclass
class AttentionCall:
    """One self-attention call of one layer, right before attention, as behaviours see it.

    ``q``, ``k``, ``v`` are ``BSHD`` (batch, tokens, heads, dim) or ``BHSD``; tokens before
    ``video_start`` are text tokens (CogVideoX's joint attention) that behaviours leave alone.
    A behaviour replaces a tensor with :meth:`replace_video` or sets ``chunks`` to split the
    attention (extended attention).
    """
    layer: str
    step: int
    q: Any
    k: Any
    v: Any
    layout: str
    video_start: int = 0
    rope: bool = False
    chunks: list | None = None   # [(row indices or None, q, k, v), ...] attended separately

    @property
    def token_dim(self) -> int:
        return 1 if self.layout == "BSHD" else 2

    def video(self, which: str, rows: slice):
        """The video tokens of ``rows`` of q, k or v (a view)."""
        return self._video_region(getattr(self, which), rows)

    def replace_video(self, which: str, rows: slice, value) -> None:
        """Replace the video tokens of ``rows`` of q, k or v by ``value`` (broadcast over rows), on a
        copy: the tensor the processor computed is not modified in place."""
        t = getattr(self, which).clone()
        region = self._video_region(t, rows)
        if value.shape[1:] != region.shape[1:]:
            raise EvalkitError(
                f"attention layer {self.layer}: {which} of shape {tuple(value.shape)} cannot replace the "
                f"call's {tuple(region.shape)} (different resolution or frame count?)")
        region.copy_(value.to(region.dtype).expand_as(region))
        setattr(self, which, t)

    def _video_region(self, t, rows: slice):
        return t[rows, self.video_start:] if self.token_dim == 1 else t[rows, :, self.video_start:]

    def attention_chunks(self) -> list:
        return self.chunks if self.chunks is not None else [(None, self.q, self.k, self.v)]


def every_step(step: int) -> bool:
    return True


@dataclass(kw_only=True)
class Behaviour:
    """A control behaviour: acts on the calls of the ``layers`` it selects, at the steps where
    ``active(step)`` holds, on the CFG ``passes`` rows. The controller applies all three gates, so a
    behaviour's ``__call__`` only says what it does; ``count`` is its own tally of calls it changed."""
    layers: Callable[[str], bool] = every_layer
    active: Callable[[int], bool] = every_step
    passes: str = "cond"
    count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.passes not in PASSES:
            raise EvalkitError(f"{type(self).__name__}: passes {self.passes!r} not in {PASSES}")

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        raise NotImplementedError


class AttentionController:
    """Step context + an ordered list of behaviours; every control processor calls :meth:`process`."""

    def __init__(self, behaviours: Sequence[Behaviour] = (), *, cfg: str = "none") -> None:
        self.behaviours = list(behaviours)
        self.start(cfg=cfg)

    # -- step context ------------------------------------------------------------------
    def start(self, *, step: int = 0, cfg: str | None = None) -> None:
        """Begin a pass at ``step`` (and, if given, with the CFG convention of the calls to come)."""
        if cfg is not None:
            if cfg not in CFG_MODES:
                raise EvalkitError(f"attention controller: cfg {cfg!r} not in {CFG_MODES}")
            self.cfg = cfg
        self.step, self._calls_this_step, self._call = int(step), 0, 0

    def on_step_end(self, pipe, i, t, callback_kwargs):
        """``callback_on_step_end`` signature: advance to step i + 1."""
        self.start(step=int(i) + 1)
        return {}

    def legacy_callback(self, i, t, latents) -> None:
        """TextToVideoSDPipeline's ``callback(step, t, latents)`` (callback_steps=1)."""
        self.start(step=int(i) + 1)

    def on_denoiser_call(self) -> None:
        """Called before every forward of the denoiser: numbers the calls within a step."""
        self._call = self._calls_this_step
        self._calls_this_step += 1

    def rows(self, batch: int, passes: str) -> slice | None:
        """Rows of the current call to act on for ``passes``, or None to leave the call alone."""
        if passes == "both":
            return slice(0, batch)
        if self.cfg == "batched":
            return slice(batch // 2, batch)
        return slice(0, batch) if self._call == 0 else None  # the first call of a step is conditional

    # -- the hook every processor calls ------------------------------------------------
    def process(self, layer: str, q, k, v, *, layout: str, video_start: int = 0, rope: bool = False) -> list:
        """Run the behaviours on this call; returns ``[(rows, q, k, v), ...]`` chunks to attend."""
        call = AttentionCall(layer, self.step, q, k, v, layout, video_start, rope)
        for behaviour in self.behaviours:
            if not behaviour.layers(layer) or not behaviour.active(call.step):
                continue
            rows = self.rows(q.shape[0], behaviour.passes)
            if rows is not None:
                behaviour(call, rows)
        return call.attention_chunks()
