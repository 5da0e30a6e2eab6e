"""The transformer parts of VideoCrafter2's U-Net (lvdm/modules/attention.py of AILab-CVC/VideoCrafter),
rewritten here with the official parameter names.

Every attention module computes through a swappable ``processor`` (diffusers' convention:
``processor(attn, hidden_states, encoder_hidden_states=None, attention_mask=None)``), so
evalkit's attention control installs its processors on these layers as on a diffusers model.
Only what VideoCrafter2 uses is here: no relative position, no causal mask, no image tokens.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class AttnProcessor:
    """The default computation: lvdm's softmax(QKᵀ/√d)V per head, through PyTorch's SDPA."""

    def __call__(self, attn: "Attention", hidden_states, encoder_hidden_states=None, attention_mask=None):
        b = hidden_states.shape[0]
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        q, k, v = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        q, k, v = (t.view(b, -1, attn.heads, attn.dim_head).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask)
        return attn.to_out(out.transpose(1, 2).reshape(b, -1, attn.heads * attn.dim_head).to(q.dtype))


class Attention(nn.Module):
    """lvdm ``CrossAttention``: Q, K, V projections without bias, an output projection with bias;
    self-attention when ``context_dim`` is None (or no context is passed)."""

    def __init__(self, query_dim: int, context_dim: int | None = None, heads: int = 8, dim_head: int = 64):
        super().__init__()
        inner = heads * dim_head
        context_dim = query_dim if context_dim is None else context_dim
        self.heads, self.dim_head = heads, dim_head
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))
        self.processor = AttnProcessor()

    def forward(self, x, context=None):
        return self.processor(self, x, context)


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    """lvdm ``FeedForward(dim, glu=True)``: GEGLU to 4·dim, back to dim."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """Self-attention (attn1), cross-attention (attn2; self-attention too without a context),
    gated feed-forward, each pre-normed with a residual. Modules in the official order."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None = None):
        super().__init__()
        self.attn1 = Attention(dim, None, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = Attention(dim, context_dim, heads, dim_head)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, context=None):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


def _projection(linear: bool, n_in: int, n_out: int, conv: type) -> nn.Module:
    return nn.Linear(n_in, n_out) if linear else conv(n_in, n_out, kernel_size=1)


class SpatialTransformer(nn.Module):
    """Attention over the tokens of each frame (rows ``(b·t)``, tokens ``h·w``), text cross-attention."""

    def __init__(self, channels: int, heads: int, dim_head: int, depth: int, context_dim: int, use_linear: bool):
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = _projection(use_linear, channels, inner, nn.Conv2d)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(inner, heads, dim_head, context_dim) for _ in range(depth))
        self.proj_out = _projection(use_linear, inner, channels, nn.Conv2d)

    def forward(self, x, context=None):
        bt, c, h, w = x.shape
        x_in, x = x, self.norm(x)
        if not self.use_linear:
            x = self.proj_in(x)
        x = x.flatten(2).transpose(1, 2)          # (bt, hw, c)
        if self.use_linear:
            x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, context)
        if self.use_linear:
            x = self.proj_out(x)
        x = x.transpose(1, 2).reshape(bt, -1, h, w)
        if not self.use_linear:
            x = self.proj_out(x)
        return x + x_in


class TemporalTransformer(nn.Module):
    """Attention over the frames at each spatial position (rows ``(b·h·w)``, tokens ``t``); both
    attentions are self-attention (``temporal_selfatt_only``); no positional encoding."""

    def __init__(self, channels: int, heads: int, dim_head: int, depth: int, use_linear: bool):
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = _projection(use_linear, channels, inner, nn.Conv1d)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(inner, heads, dim_head, None) for _ in range(depth))
        self.proj_out = _projection(use_linear, inner, channels, nn.Conv1d)

    def forward(self, x):
        b, c, t, h, w = x.shape
        x_in, x = x, self.norm(x)
        x = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c, t)     # (b h w) c t
        if not self.use_linear:
            x = self.proj_in(x)
        x = x.transpose(1, 2)                                      # (b h w) t c
        if self.use_linear:
            x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x)
        if self.use_linear:
            x = self.proj_out(x)
        else:
            x = self.proj_out(x.transpose(1, 2)).transpose(1, 2)
        x = x.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)
        return x + x_in
