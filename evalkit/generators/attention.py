"""Attention control: record / replace / extend Q, K, V per named layer and per denoising step.

Design (docs/generators.md, shared/docs/style.md "From diffusers"):
- one processor instance per controlled layer, each holding its layer name and the one shared
  :class:`AttentionController` (step index, mode, what to record or inject);
- the controller's step is advanced from the pipeline's step callback (``callback_on_step_end``,
  or the legacy ``callback`` of TextToVideoSDPipeline); a forward pre-hook on the denoiser counts
  the calls within a step, so the conditional pass is known for pipelines that run CFG as two
  sequential calls (Wan: cond first) as well as for batched CFG (CogVideoX, LTX, U-Net: the
  second half of the batch is the conditional one);
- :func:`controlled` installs the processors and restores the originals on exit;
- processors keep calling diffusers' ``dispatch_attention_fn`` so attention backends still work.

Recorded tensors hold only video tokens (CogVideoX's joint attention prepends text tokens: they
are never recorded nor replaced) and are tagged with their layout (``BSHD`` for Wan/LTX/CogVideoX
after our transpose, ``BHSD`` for the U-Net) and whether RoPE was applied (Wan, CogVideoX, LTX:
after RoPE; source and target share positions, so replacing post-RoPE Q equals replacing pre-RoPE Q).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable

from ..errors import EvalkitError

MODES = ("off", "record", "inject")
PASSES = ("cond", "both")


@dataclass
class Recorded:
    """One recorded tensor: video tokens of the selected rows, with its layout facts."""
    tensor: Any            # torch.Tensor
    layout: str            # "BSHD" (batch, tokens, heads, dim) or "BHSD"
    rope_applied: bool
    what: str              # "q", "k" or "v"

    @property
    def token_dim(self) -> int:
        return 1 if self.layout == "BSHD" else 2

    @property
    def nbytes(self) -> int:
        return self.tensor.numel() * self.tensor.element_size()


@dataclass
class AttentionController:
    """Shared state of all controlled processors of one model.

    mode: ``record`` stores Q/K/V (``what``) of the selected layers under ``key``; ``inject``
    replaces them with ``store[(layer, what, key_for_step(step))]`` at the steps where
    ``active(step)`` is true. ``extend_kv`` concatenates, for every row, the K/V video tokens of
    the other batch items (same frame for the U-Net, whose rows are frames) after its own.
    """
    layers: Callable[[str], bool] = lambda name: True
    mode: str = "off"
    what: tuple[str, ...] = ("q",)
    passes: str = "cond"
    key: Hashable = 0                          # record key (set by the recorder)
    key_for_step: Callable[[int], Hashable] = lambda step: step
    active: Callable[[int], bool] = lambda step: True
    extend_kv: bool = False
    batched_cfg: bool = False                  # CFG as one batch [uncond, cond]
    rows_per_item: int = 1                     # U-Net: rows are frames of one video
    store: dict = field(default_factory=dict)
    step: int = 0
    call_in_step: int = 0
    events: list = field(default_factory=list)  # (layer, step, action) for tests/diagnostics
    observe: dict | None = None                  # if a dict: the post-edit q of acted-on rows per (layer, step)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EvalkitError(f"attention controller: mode {self.mode!r} not in {MODES}")
        if self.passes not in PASSES:
            raise EvalkitError(f"attention controller: passes {self.passes!r} not in {PASSES}")

    # -- pipeline wiring ---------------------------------------------------------------
    def reset(self, step: int = 0) -> None:
        self.step, self.call_in_step = step, 0

    def on_step_end(self, pipe, i, t, callback_kwargs):
        """``callback_on_step_end`` signature: advance to step i + 1."""
        self.step, self.call_in_step = int(i) + 1, 0
        return {}

    def legacy_callback(self, i, t, latents) -> None:
        """TextToVideoSDPipeline's ``callback(step, t, latents)`` (callback_steps=1)."""
        self.step, self.call_in_step = int(i) + 1, 0

    def _pre_forward(self, module, args, kwargs):
        self._current_call = self.call_in_step
        self.call_in_step += 1

    # -- row selection -----------------------------------------------------------------
    def _rows(self, batch: int) -> slice | None:
        """Rows to act on in this call, or None to leave the call untouched."""
        if self.passes == "both":
            return slice(0, batch)
        if self.batched_cfg:
            return slice(batch // 2, batch)
        # sequential CFG: the first call of a step is the conditional one
        return slice(0, batch) if getattr(self, "_current_call", 0) == 0 else None

    # -- the hook every processor calls ------------------------------------------------
    def process(self, name: str, q, k, v, *, layout: str, video_start: int = 0, rope: bool = False):
        """Return a list of ``(rows, q, k, v)`` chunks to attend separately (usually one)."""
        if not self.layers(name) or (self.mode == "off" and not self.extend_kv):
            return [(None, q, k, v)]
        tdim = 1 if layout == "BSHD" else 2
        rows = self._rows(q.shape[0])
        if rows is None:
            return [(None, q, k, v)]
        tensors = {"q": q, "k": k, "v": v}
        if self.mode == "record":
            key = self.key
            for w in self.what:
                t = tensors[w][rows].narrow(tdim, video_start, tensors[w].shape[tdim] - video_start)
                self.store[(name, w, key)] = Recorded(t.detach().clone(), layout, rope, w)
            self.events.append((name, self.step, "record"))
        elif self.mode == "inject" and self.active(self.step):
            key = self.key_for_step(self.step)
            changed = False
            for w in self.what:
                rec = self.store.get((name, w, key))
                if rec is None:
                    continue
                t = tensors[w].clone()
                region = t[rows, video_start:] if tdim == 1 else t[rows, :, video_start:]
                if rec.tensor.shape[1:] != region.shape[1:]:
                    raise EvalkitError(
                        f"attention layer {name}: recorded {w} has shape {tuple(rec.tensor.shape)}, "
                        f"the target pass has {tuple(region.shape)} (different resolution or frame count?)")
                region.copy_(rec.tensor.to(region.dtype).expand_as(region))
                tensors[w] = t
                changed = True
            if changed:
                self.events.append((name, self.step, "inject"))
            q, k, v = tensors["q"], tensors["k"], tensors["v"]
        if self.observe is not None and self.mode == "inject":
            self.observe[(name, self.step)] = (q[rows, video_start:] if tdim == 1 else q[rows, :, video_start:]).detach().clone()
        if self.extend_kv:
            return self._extend(q, k, v, rows, tdim, video_start)
        return [(None, q, k, v)]

    def _extend(self, q, k, v, rows: slice, tdim: int, video_start: int):
        """Extended attention among the items of ``rows``; other rows attend plainly."""
        import torch

        batch = q.shape[0]
        idx = list(range(rows.start, rows.stop))
        per = self.rows_per_item
        items = len(idx) // per
        if items <= 1:
            return [(None, q, k, v)]
        ks, vs = [], []
        for r in idx:
            b, f = divmod(r - rows.start, per)
            others = [rows.start + o * per + f for o in range(items) if o != b]
            ks.append(torch.cat([k[r:r + 1]] + [k[o:o + 1].narrow(tdim, video_start, k.shape[tdim] - video_start)
                                               for o in others], dim=tdim))
            vs.append(torch.cat([v[r:r + 1]] + [v[o:o + 1].narrow(tdim, video_start, v.shape[tdim] - video_start)
                                               for o in others], dim=tdim))
        chunks = [(torch.tensor(idx), q[rows], torch.cat(ks), torch.cat(vs))]
        rest = [r for r in range(batch) if r not in idx]
        if rest:
            ri = torch.tensor(rest)
            chunks.insert(0, (ri, q[ri], k[ri], v[ri]))
        return chunks

    # -- facts -------------------------------------------------------------------------
    def stored_bytes(self) -> int:
        return sum(r.nbytes for r in self.store.values())


# ---------------------------------------------------------------------------------------------
# attention computation shared by the processors


def _split_heads_bhsd(attn, query, key, value):
    """[B, S, H*D] projections -> [B, H, S, D], with the module's optional Q/K norms applied."""
    b, heads = query.shape[0], attn.heads
    head_dim = key.shape[-1] // heads
    query, key, value = (t.view(b, -1, heads, head_dim).transpose(1, 2) for t in (query, key, value))
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    return query, key, value, head_dim


def _attend(chunks, layout: str, mask, backend, parallel_config=None):
    """Run diffusers' attention dispatcher on each chunk; returns [B, S, H, D]."""
    import torch
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    outs, order = [], []
    for rows, q, k, v in chunks:
        if layout == "BHSD":
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        m = mask if (mask is None or rows is None) else mask[rows]
        outs.append(dispatch_attention_fn(q, k, v, attn_mask=m, dropout_p=0.0, is_causal=False,
                                          backend=backend, parallel_config=parallel_config))
        order.append(rows)
    if len(outs) == 1:
        return outs[0]
    out = torch.empty((sum(o.shape[0] for o in outs),) + tuple(outs[0].shape[1:]),
                      dtype=outs[0].dtype, device=outs[0].device)
    for rows, o in zip(order, outs):
        out[rows.to(out.device)] = o
    return out


class _Base:
    _attention_backend = None
    _parallel_config = None

    def __init__(self, controller: AttentionController, name: str) -> None:
        self.controller = controller
        self.name = name


class WanControlProcessor(_Base):
    """WanAttention (self- and cross-attention of WanTransformer3DModel), T2V only."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        from diffusers.models.transformers.transformer_wan import _get_qkv_projections

        if attn.add_k_proj is not None:
            raise EvalkitError(f"attention layer {self.name}: image-conditioned Wan (I2V) is not supported")
        query, key, value = _get_qkv_projections(attn, hidden_states, encoder_hidden_states)
        query, key = attn.norm_q(query), attn.norm_k(key)
        query = query.unflatten(2, (attn.heads, -1))
        key = key.unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        if rotary_emb is not None:
            query, key = _wan_rope(query, *rotary_emb), _wan_rope(key, *rotary_emb)
        chunks = self.controller.process(self.name, query, key, value, layout="BSHD", rope=rotary_emb is not None)
        out = _attend(chunks, "BSHD", attention_mask, self._attention_backend,
                      self._parallel_config if encoder_hidden_states is None else None)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def _wan_rope(x, cos, sin):
    # Wan's interleaved rotary embedding (pairs (2i, 2i+1)), as in diffusers' WanAttnProcessor
    import torch

    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)


class CogVideoXControlProcessor(_Base):
    """CogVideoX joint text–video attention: only video tokens (after the text ones) are touched."""

    def __call__(self, attn, hidden_states, encoder_hidden_states, attention_mask=None, image_rotary_emb=None):
        from diffusers.models.embeddings import apply_rotary_emb

        text_len = encoder_hidden_states.size(1)
        x = torch_cat([encoder_hidden_states, hidden_states], dim=1)
        b, n, _ = x.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n, b)
            attention_mask = attention_mask.view(b, attn.heads, -1, attention_mask.shape[-1])
        query, key, value = attn.to_q(x), attn.to_k(x), attn.to_v(x)
        query, key, value, head_dim = _split_heads_bhsd(attn, query, key, value)
        if image_rotary_emb is not None:
            query[:, :, text_len:] = apply_rotary_emb(query[:, :, text_len:], image_rotary_emb)
            if not attn.is_cross_attention:
                key[:, :, text_len:] = apply_rotary_emb(key[:, :, text_len:], image_rotary_emb)
        chunks = self.controller.process(self.name, query, key, value, layout="BHSD", video_start=text_len,
                                         rope=image_rotary_emb is not None)
        out = _attend(chunks, "BHSD", attention_mask, self._attention_backend)
        out = out.reshape(b, -1, attn.heads * head_dim)
        out = attn.to_out[1](attn.to_out[0](out))
        enc, out = out.split([text_len, out.size(1) - text_len], dim=1)
        return out, enc


class LTXControlProcessor(_Base):
    """LTXAttention (LTX-Video self- and cross-attention)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        from diffusers.models.transformers.transformer_ltx import apply_rotary_emb

        b, n, _ = hidden_states.shape if encoder_hidden_states is None else encoder_hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n, b)
            attention_mask = attention_mask.view(b, attn.heads, -1, attention_mask.shape[-1])
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        query, key = attn.norm_q(query), attn.norm_k(key)
        if image_rotary_emb is not None:
            query, key = apply_rotary_emb(query, image_rotary_emb), apply_rotary_emb(key, image_rotary_emb)
        query = query.unflatten(2, (attn.heads, -1))
        key = key.unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        chunks = self.controller.process(self.name, query, key, value, layout="BSHD",
                                         rope=image_rotary_emb is not None)
        out = _attend(chunks, "BSHD", attention_mask, self._attention_backend, self._parallel_config)
        out = out.flatten(2, 3).to(query.dtype)
        return attn.to_out[1](attn.to_out[0](out))


class UNetControlProcessor(_Base):
    """Plain ``Attention`` self-attention (the U-Net's spatial transformers' attn1)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args,
                 **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        ndim = hidden_states.ndim
        if ndim == 4:
            bb, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(bb, c, h * w).transpose(1, 2)
        b, n, _ = hidden_states.shape if encoder_hidden_states is None else encoder_hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, n, b)
            attention_mask = attention_mask.view(b, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key, value = attn.to_k(encoder_hidden_states), attn.to_v(encoder_hidden_states)
        query, key, value, head_dim = _split_heads_bhsd(attn, query, key, value)
        chunks = self.controller.process(self.name, query, key, value, layout="BHSD", rope=False)
        out = _attend(chunks, "BHSD", attention_mask, self._attention_backend)
        out = out.reshape(b, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if ndim == 4:
            out = out.transpose(-1, -2).reshape(bb, c, h, w)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def torch_cat(tensors, dim):
    import torch

    return torch.cat(tensors, dim=dim)


# ---------------------------------------------------------------------------------------------
# which layers of which family are controllable (self-attention only)

#: family -> (processor class, regex on the processor's layer path, without ".processor")
FAMILIES: dict[str, tuple[type, str]] = {
    "wan": (WanControlProcessor, r"^blocks\.(\d+)\.attn1$"),
    "cogvideox": (CogVideoXControlProcessor, r"^transformer_blocks\.(\d+)\.attn1$"),
    "ltx": (LTXControlProcessor, r"^transformer_blocks\.(\d+)\.attn1$"),
    # spatial transformers only (".attentions."), not the temporal ones (".temp_attentions.", transformer_in)
    "unet": (UNetControlProcessor, r"^(?:down_blocks|mid_block|up_blocks)\b.*\.attentions\.\d+\.transformer_blocks\.\d+\.attn1$"),
}


def self_attention_layers(model, family: str) -> list[str]:
    """Names of the controllable self-attention layers, in model order (block index = list index)."""
    if family not in FAMILIES:
        raise EvalkitError(f"attention control: unknown model family {family!r} (known: {sorted(FAMILIES)})")
    pattern = re.compile(FAMILIES[family][1])
    names = [k[: -len(".processor")] for k in model.attn_processors]
    return [n for n in names if pattern.match(n)]


def block_filter(layer_names: list[str], blocks: Iterable[int] | None) -> Callable[[str], bool]:
    """Predicate selecting layers by their index in ``layer_names`` (None: all)."""
    if blocks is None:
        chosen = set(layer_names)
    else:
        wanted = set(int(b) for b in blocks)
        bad = [b for b in wanted if b >= len(layer_names) or b < 0]
        if bad:
            raise EvalkitError(f"attention control: block(s) {sorted(bad)} out of range "
                               f"(the model has {len(layer_names)} controllable layers)")
        chosen = {n for i, n in enumerate(layer_names) if i in wanted}
    return chosen.__contains__


class controlled:
    """Context manager: install control processors on ``model``'s self-attention layers.

    ``with controlled(transformer, "wan", ctrl): pipe(...)`` — restores the original processors
    and removes the call-counting hook on exit, even on error.
    """

    def __init__(self, model, family: str, controller: AttentionController) -> None:
        self.model, self.family, self.controller = model, family, controller

    def __enter__(self) -> AttentionController:
        cls = FAMILIES[self.family][0]
        self._original = dict(self.model.attn_processors)
        targets = {n + ".processor" for n in self_attention_layers(self.model, self.family)}
        procs = {k: (cls(self.controller, k[: -len(".processor")]) if k in targets else p)
                 for k, p in self._original.items()}
        for k, p in procs.items():  # keep the backend chosen on the original processors
            if k in targets:
                orig = self._original[k]
                p._attention_backend = getattr(orig, "_attention_backend", None)
                p._parallel_config = getattr(orig, "_parallel_config", None)
        self.model.set_attn_processor(procs)
        self._hook = self.model.register_forward_pre_hook(self.controller._pre_forward, with_kwargs=True)
        self.controller.reset()
        return self.controller

    def __exit__(self, *exc) -> None:
        self._hook.remove()
        self.model.set_attn_processor(self._original)
