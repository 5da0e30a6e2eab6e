"""Prompts with V-Warper's learnable subject token (textual inversion in T5's input embeddings).

The subject token (the case's ``subject_token``, e.g. ``sks``) becomes one new token of a *copy*
of the pipeline's tokenizer (the shared pipeline is never changed); its input embedding is a
learned vector spliced into T5's input embeddings (``inputs_embeds``), so the text encoder itself
is untouched. Without a learned embedding the prompt is encoded exactly as
``CogVideoXPipeline.encode_prompt`` does (same tokenizer call, same 226-token padding).
"""
from __future__ import annotations

import copy
import re
from typing import Any, Sequence

from ..errors import EvalkitError
from .families.base import Embeds

MAX_SEQUENCE_LENGTH = 226   # CogVideoXPipeline.encode_prompt's default


class SubjectPrompts:
    def __init__(self, pipe, token: str, embedding: Any = None, device: str = "cpu") -> None:
        from tokenizers import AddedToken

        self.pipe, self.token, self.embedding, self.device = pipe, token, embedding, device
        self.tokenizer = copy.deepcopy(pipe.tokenizer)
        self.token_id: int | None = None
        if embedding is not None:
            self.tokenizer.add_tokens([AddedToken(token, single_word=True, normalized=False)])
            self.token_id = self.tokenizer.convert_tokens_to_ids(token)
            if self.token_id >= pipe.text_encoder.get_input_embeddings().num_embeddings:
                raise EvalkitError(f"subject token {token!r}: the text encoder has no embedding row for id "
                                   f"{self.token_id}")

    def ids(self, prompt: str):
        return self.tokenizer(prompt, padding="max_length", max_length=MAX_SEQUENCE_LENGTH, truncation=True,
                              add_special_tokens=True, return_tensors="pt").input_ids.to(self.device)

    def encode(self, prompt: str, *, grad: bool = False) -> Embeds:
        """Prompt embeddings ``[1, 226, d]`` in the text encoder's dtype; differentiable in the
        subject embedding with ``grad``."""
        import torch

        encoder = self.pipe.text_encoder
        ids = self.ids(prompt)
        with torch.set_grad_enabled(grad):
            if self.embedding is None:
                out = encoder(ids)[0]
            else:
                table = encoder.get_input_embeddings()
                x = table(ids)
                learned = self.embedding.to(x.dtype).expand_as(x)
                x = torch.where((ids == self.token_id)[..., None], learned, x)
                out = encoder(inputs_embeds=x)[0]
        return Embeds(out.to(encoder.dtype))

    def positions(self, prompt: str, words: Sequence[str], *, item: str = "") -> list[int]:
        """Token positions (within the text tokens) of the first whole-word occurrence of each word."""
        if not getattr(self.tokenizer, "is_fast", False):
            raise EvalkitError(f"{item}: locating the subject's tokens needs a fast tokenizer (offsets)")
        enc = self.tokenizer(prompt, max_length=MAX_SEQUENCE_LENGTH, truncation=True, add_special_tokens=True,
                             return_offsets_mapping=True)
        out: list[int] = []
        for word in words:
            found = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", prompt)
            if not found:
                raise EvalkitError(f"{item}: the prompt {prompt!r} does not contain {word!r}")
            a, b = found.span()
            hits = [i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > s and s < b and e > a]
            if not hits:
                raise EvalkitError(f"{item}: no token of {word!r} within the first {MAX_SEQUENCE_LENGTH} tokens")
            out += hits
        return sorted(set(out))


def initial_embedding(pipe, class_noun: str):
    """Textual-inversion start: the mean input embedding of the class noun's tokens (float32)."""
    import torch

    ids = pipe.tokenizer(class_noun, add_special_tokens=False, return_tensors="pt").input_ids[0]
    if not len(ids):
        raise EvalkitError(f"class noun {class_noun!r} tokenizes to nothing")
    table = pipe.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        return table[ids.to(table.device)].float().mean(0).clone()
