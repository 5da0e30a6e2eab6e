"""Subject-token attention: how much each video token attends to the subject's text tokens.

In MM-DiT joint attention the video→text (V→T) block of the attention map (video queries, text
keys) gives more complete object extents than T→V (V-Warper Sec. 4.3, after MATRIX and
Seg4Diff). For each branch of each acted-on (generation, reference) pair, this behaviour computes
the softmax-normalised attention of every video query to the given text token positions, averages
it over those tokens and the heads, and hands the ``[video tokens]`` map to ``sink(step, layer,
branch, map)``. ``softmax``: ``"text"`` normalises over the text keys only (the V→T block as its
own map); ``"joint"`` over all keys, as the model's attention does (an extra pass over the video
keys, in chunks of queries).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from evalkit.errors import EvalkitError
from evalkit.generators.attention.controller import AttentionCall, Behaviour

from .branches import branch_pairs, text_tokens, video_tokens

SOFTMAX = ("text", "joint")
_QUERY_CHUNK = 4096


@dataclass(kw_only=True)
class SubjectAttention(Behaviour):
    tokens: Mapping[str, Sequence[int]]   # branch ("gen", "ref") -> text token positions of the subject
    sink: Callable[[int, str, str, object], None]
    softmax: str = "text"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.softmax not in SOFTMAX:
            raise EvalkitError(f"subject attention: softmax {self.softmax!r} not in {SOFTMAX}")

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        for gen, ref in branch_pairs(rows):
            for branch, row in (("gen", gen), ("ref", ref)):
                positions = list(self.tokens.get(branch) or ())
                if positions:
                    self.sink(call.step, call.layer, branch, self.attention_map(call, row, positions))

    def attention_map(self, call: AttentionCall, row: int, positions: list[int]):
        """``[video tokens]``: mean over heads and ``positions`` of the V→T attention of ``row``."""
        import torch

        q = video_tokens(call, "q", row).float()                  # [H, N, D]
        k_text = text_tokens(call, "k", row).float()               # [H, L, D]
        if max(positions) >= k_text.shape[1]:
            raise EvalkitError(f"attention layer {call.layer}: subject token position {max(positions)} beyond "
                               f"the {k_text.shape[1]} text tokens")
        scale = q.shape[-1] ** -0.5
        logits = torch.einsum("hnd,hld->hnl", q, k_text) * scale
        if self.softmax == "text":
            log_norm = logits.logsumexp(-1)                        # [H, N]
        else:
            k_vid = video_tokens(call, "k", row).float()
            log_norm = torch.cat([
                torch.cat([logits[:, i:i + _QUERY_CHUNK],
                           torch.einsum("hnd,hmd->hnm", q[:, i:i + _QUERY_CHUNK], k_vid) * scale], -1).logsumexp(-1)
                for i in range(0, q.shape[1], _QUERY_CHUNK)], 1)
        probs = (logits[:, :, positions] - log_norm[..., None]).exp()  # [H, N, P]
        return probs.mean(dim=(0, 2))
