"""Framewise subject-driven self-attention (Motion by Queries App. B.10, Eq. 1; ConsiStory's SDSA).

Shot ``i``'s frame ``f`` attends to its own keys and values and to the subject tokens of the
*anchor* shots' frame ``f`` (``frames="matching"``)::

    A_if+ = softmax(Q_i K_f+ᵀ / √d + log M_if+),   K_f+ = [K_i,f ⊕ K_a1,f ⊕ K_a2,f],
    M_if+ = [1 ⊕ M_a1,f ⊕ M_a2,f]

"Other videos in the batch only observe features derived from these anchors" (App. B.14): a
non-anchor shot extends with every anchor, an anchor with the other anchors (its own slot is
masked out, so attention equals Eq. 1 without the duplicate). ``frames="matching+middle"`` adds
the anchors' middle frame (App. B.14's T2V-Turbo-V2 variant), ``"all"`` every anchor frame (the
naive video ConsiStory of App. B.7, Fig. 12). ``masks`` gives the subject masks per step; with
``masks=None`` the extension is unmasked (plain extended attention, MbQ Fig. 3). ``dropout`` is
ConsiStory's mask dropout (off in Video Storyboarding: App. B.7 "SDSA dropout in videos hurts
identity").

The mask is an additive key bias (0 / −inf) per chunk (``attention.compute.attend``). U-Net rows
are frames, so each row is extended with its own frame's anchor keys; on a DiT a shot's queries of
frame ``f`` need another extension than those of frame ``f'``, so each query frame is its own
chunk (a token slice of the shot's queries over its own keys plus the anchors' frame-``f`` keys),
built one at a time as the attention consumes them. Text tokens (CogVideoX) keep their own
attention only. With one shot, nothing is extended: the call is plain attention.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from evalkit.errors import EvalkitError

from .controller import AttentionCall, Behaviour
from .frames import FrameLayout

FRAME_SETS = ("matching", "matching+middle", "all")


def frame_sets(frames: int, mode: str):
    """``[frames, m]`` anchor frames each frame attends to, and which entries are valid (no duplicates)."""
    import torch

    f = torch.arange(frames)
    if mode == "matching":
        sets = f[:, None]
    elif mode == "matching+middle":
        sets = torch.stack([f, torch.full_like(f, frames // 2)], dim=1)
    elif mode == "all":
        sets = f[None].expand(frames, frames)
    else:
        raise EvalkitError(f"SDSA frames {mode!r} not in {FRAME_SETS}")
    valid = torch.ones(sets.shape, dtype=torch.bool)
    if mode == "matching+middle":
        valid[frames // 2, 1] = False  # the middle frame's own slot is already its matching frame
    return sets, valid


@dataclass(kw_only=True)
class FramewiseSDSA(Behaviour):
    layout: FrameLayout
    anchors: tuple[int, ...]
    #: (step, tokens per frame) -> bool [shots, frames, tokens] on the call's device, or None (no
    #: mask estimate at this step: the step is left alone); None here: unmasked extension
    masks: Callable[[int, int], Any] | None = None
    frames: str = "matching"
    dropout: float = 0.0
    generator: Any = None            # torch.Generator for the dropout

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frames not in FRAME_SETS:
            raise EvalkitError(f"SDSA frames {self.frames!r} not in {FRAME_SETS}")
        bad = [a for a in self.anchors if not 0 <= a < self.layout.shots]
        if bad or not self.anchors:
            raise EvalkitError(f"SDSA anchors {self.anchors} must be shot indices in [0, {self.layout.shots})")
        if not 0.0 <= self.dropout < 1.0:
            raise EvalkitError(f"SDSA dropout {self.dropout} outside [0, 1)")

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        import torch

        shots = self.layout.shots
        if shots == 1 and self.anchors == (0,):
            return
        if call.chunks is not None:
            raise EvalkitError(f"attention layer {call.layer}: SDSA must be the last behaviour (chunks already set)")
        ks = self.layout.to_frames(call.video("k", rows), call.layout)   # [G·N, F, S_f, H, D]
        vs = self.layout.to_frames(call.video("v", rows), call.layout)
        frames, per_frame = ks.shape[1], ks.shape[2]
        if self.masks is None:
            masks = torch.ones((shots, frames, per_frame), dtype=torch.bool, device=ks.device)
        else:
            masks = self.masks(call.step, per_frame)
            if masks is None:
                return
        sets, valid = frame_sets(frames, self.frames)
        anchors = torch.tensor(self.anchors)
        # [N, A]: an anchor's own slot is masked out (it extends with the other anchors only)
        own_slot = anchors[None, :] == torch.arange(shots)[:, None]
        ext_m = masks[anchors][:, sets.to(masks.device)] & valid.to(masks.device)[None, :, :, None]  # [A, F, m, S_f]
        ext_m = ext_m[None] & ~own_slot.to(masks.device)[:, :, None, None, None]                   # [N, A, F, m, S_f]
        if self.dropout:
            keep = torch.rand(ext_m.shape, generator=self.generator) >= self.dropout
            ext_m = ext_m & keep.to(ext_m.device)
        build = self._unet_chunk if self.layout.frames_in_rows else self._dit_chunk
        chunks, done = [], []
        for g in range(ks.shape[0] // shots):
            items = slice(g * shots, (g + 1) * shots)
            chunk_rows = torch.arange(rows.start + g * shots * self.layout.rows_per_item,
                                      rows.start + (g + 1) * shots * self.layout.rows_per_item)
            chunks.append(build(call, chunk_rows, ks[items][anchors], vs[items][anchors], sets, ext_m))
            done.extend(chunk_rows.tolist())
        done_rows = set(done)
        rest = [r for r in range(call.q.shape[0]) if r not in done_rows]
        plain = []
        if rest:
            ri = torch.tensor(rest)
            plain.append((ri, call.q[ri], call.k[ri], call.v[ri]))
        call.chunks = _Chained(plain, (c for group in chunks for c in group))
        self.count += 1

    # -- U-Net: one row = one frame of one shot ------------------------------------------
    def _unet_chunk(self, call, chunk_rows, k_anchor, v_anchor, sets, ext_m):
        import torch

        shots, frames = self.layout.shots, self.layout.frames
        a, _, s_f, h, d = k_anchor.shape

        def extension(t):  # [A, F, S_f, H, D] -> [N·F, A·m·S_f, H, D], the same for every shot
            e = t[:, sets.to(t.device)].permute(1, 0, 2, 3, 4, 5).reshape(frames, -1, h, d)
            return e[None].expand(shots, *e.shape).reshape(shots * frames, -1, h, d)

        ek, ev = extension(k_anchor), extension(v_anchor)
        ext_mask = ext_m.permute(0, 2, 1, 3, 4).reshape(shots * frames, -1)   # [N·F, A·m·S_f]
        if call.layout == "BHSD":
            ek, ev = ek.transpose(1, 2), ev.transpose(1, 2)
        k = torch.cat([call.k[chunk_rows], ek.to(call.k.dtype)], dim=call.token_dim)
        v = torch.cat([call.v[chunk_rows], ev.to(call.v.dtype)], dim=call.token_dim)
        return [(chunk_rows, call.q[chunk_rows], k, v, key_bias(call.k.shape[call.token_dim], ext_mask))]

    # -- DiT: one row = one shot, tokens = frames × grid: one chunk per query frame --------
    def _dit_chunk(self, call, chunk_rows, k_anchor, v_anchor, sets, ext_m):
        import torch

        shots, tdim, start = self.layout.shots, call.token_dim, call.video_start
        a, _, s_f, h, d = k_anchor.shape
        own_k, own_v = call.k[chunk_rows], call.v[chunk_rows]
        n_own = own_k.shape[tdim]
        q = call.q[chunk_rows]
        chunks = []
        if start:   # text queries (CogVideoX) keep their own attention
            chunks.append(((chunk_rows, slice(0, start)), q.narrow(tdim, 0, start), own_k, own_v))

        def frame_chunk(f: int):
            idx = sets[f].to(k_anchor.device)

            def extension(t):   # the anchors' frames of query frame f: [N, A·m·S_f, H, D]
                e = t[:, idx].reshape(1, -1, h, d).expand(shots, -1, h, d)
                return (e.transpose(1, 2) if call.layout == "BHSD" else e).to(own_k.dtype)

            tokens = slice(start + f * s_f, start + (f + 1) * s_f)
            bias = key_bias(n_own, ext_m[:, :, f].reshape(shots, -1))
            return ((chunk_rows, tokens), q.narrow(tdim, tokens.start, s_f),
                    torch.cat([own_k, extension(k_anchor)], dim=tdim),
                    torch.cat([own_v, extension(v_anchor)], dim=tdim), bias)

        # built one frame at a time as the attention consumes them: one frame's keys in memory
        return _Chained(chunks, (frame_chunk(f) for f in range(self.layout.frames)))


def key_bias(n_own: int, extension_mask):
    """Additive key bias ``[rows, own + extension]``: 0 for the own keys and allowed extension keys,
    −inf for masked ones (Eq. 1's ``log M``)."""
    import torch

    bias = torch.zeros((extension_mask.shape[0], n_own + extension_mask.shape[1]), dtype=torch.float32,
                       device=extension_mask.device)
    bias[:, n_own:].masked_fill_(~extension_mask, float("-inf"))
    return bias


class _Chained:
    """Chunks given first, then chunks produced lazily (attend iterates them once)."""

    def __init__(self, first: list, rest) -> None:
        self.first, self.rest = first, rest

    def __iter__(self):
        yield from self.first
        yield from self.rest
