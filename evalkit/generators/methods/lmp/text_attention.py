"""Probe behaviour: text–video attention of subject tokens in joint (MM-DiT) attention.

LMP Sec. 4.2 (FBDM): in the joint attention of text and video tokens, the text→video and
video→text attention of the subject words, "transposed and summed", averaged over heads and
layers, is high on the subject's video tokens. Sec. 4.4 (ASM, Eq. 7–8) uses the same map with
the reference's text tokens next to the *target's* video tokens (keys ``[K_text(ref); K_video(target)]``).

:func:`subject_attention` computes the map of one row without materialising the
``[heads, N_video, N_keys]`` attention matrix: the video→text part is an attention call whose
values are indicator vectors of the subject keys (so it runs on the fused kernels, forward and
backward). :class:`SubjectAttentionProbe` sums it over the layers (calls) it sees.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from evalkit.errors import EvalkitError
from evalkit.generators.attention.controller import AttentionCall, Behaviour


def subject_attention(q_text, k_text, q_video, k_video, subject: Sequence[int]):
    """Per video token: subject-text→video attention (transposed) + video→subject-text attention,
    each averaged over heads and subject tokens; softmax over the joint keys ``[k_text; k_video]``
    (scale 1/√d, as the model's attention). Inputs ``[heads, tokens, dim]``; returns ``[N_video]``."""
    import torch
    import torch.nn.functional as F

    heads, n_text, dim = k_text.shape
    subject = list(subject)
    if not subject or min(subject) < 0 or max(subject) >= n_text:
        raise EvalkitError(f"subject attention: subject token positions {subject} outside the {n_text} text tokens")
    keys = torch.cat([k_text, k_video], dim=1)
    scale = dim ** -0.5
    # text -> video: the subject queries' rows of the joint attention, video columns
    logits = torch.einsum("hmd,hnd->hmn", q_text[:, subject].float(), keys.float()) * scale
    text_to_video = logits.softmax(-1)[:, :, n_text:].mean(dim=(0, 1))
    # video -> text: attention with indicator values picks the subject columns (groups of `dim` tokens)
    video_to_text = 0.0
    for start in range(0, len(subject), dim):
        group = subject[start:start + dim]
        ind = torch.zeros(heads, keys.shape[1], dim, dtype=q_video.dtype, device=q_video.device)
        rows = torch.tensor(group, device=q_video.device)
        ind[:, rows, torch.arange(len(group), device=q_video.device)] = 1.0
        picked = F.scaled_dot_product_attention(q_video[None], keys[None], ind[None])[0][..., :len(group)]
        video_to_text = video_to_text + picked.float().sum(dim=-1).mean(dim=0)
    return text_to_video + video_to_text / len(subject)


def _rows_hsd(t, row: int, layout: str):
    """One row of q/k as [heads, tokens, dim]."""
    return t[row] if layout == "BHSD" else t[row].transpose(0, 1)


@dataclass(kw_only=True)
class SubjectAttentionProbe(Behaviour):
    """Sums :func:`subject_attention` over the calls it sees while ``armed``.

    ``text_row`` holds the subject words (their positions ``subject`` in the text tokens),
    ``video_row`` the video tokens mapped (negative: from the end): the same row gives the row's
    own joint attention (FBDM); another row gives Eq. 7's ``[text(text_row); video(video_row)]``.
    With ``grad`` the map stays differentiable (ASM); otherwise it is computed without a graph.
    """
    subject: tuple[int, ...]
    text_row: int = 0
    video_row: int = 0
    grad: bool = False
    armed: bool = True
    passes: str = "both"
    total: Any = field(default=None, init=False)
    layers_seen: int = field(default=0, init=False)

    def reset(self) -> None:
        self.total, self.layers_seen = None, 0

    def mean(self):
        """The map averaged over the calls seen since :meth:`reset`."""
        if not self.layers_seen:
            raise EvalkitError("subject attention probe: no attention call was observed")
        return self.total / self.layers_seen

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        import torch

        if not self.armed:
            return
        start = call.video_start
        if start == 0:
            raise EvalkitError(f"attention layer {call.layer}: no text tokens in this self-attention "
                               "(the subject-attention probe needs joint text–video attention, e.g. CogVideoX)")
        batch = call.q.shape[0]
        tr, vr = self.text_row % batch, self.video_row % batch
        q, k = (_rows_hsd(t, r, call.layout) for t, r in ((call.q, tr), (call.k, tr)))
        qv, kv = (_rows_hsd(t, vr, call.layout) for t in (call.q, call.k))
        with torch.set_grad_enabled(self.grad and torch.is_grad_enabled()):
            if not self.grad:
                q, k, qv, kv = (t.detach() for t in (q, k, qv, kv))
            m = subject_attention(q[:, :start], k[:, :start], qv[:, start:], kv[:, start:], self.subject)
        self.total = m if self.total is None else self.total + m
        self.layers_seen += 1
