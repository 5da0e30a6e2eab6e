"""Prompts with V-Warper's learnable subject token.

The paper trains "a learnable subject token with a trainable text embedding ... in the text
embedding space" (Sec. 4.1). Two readings, the option ``token_space``:

- ``"input"`` (default, textual inversion): the subject token (the case's ``subject_token``, e.g.
  ``sks``) becomes one new token of a *copy* of the pipeline's tokenizer (the shared pipeline is
  never changed) whose input embedding is the learned vector, spliced into T5's input embeddings
  (``inputs_embeds``); T5 then contextualises it.
- ``"output"``: the prompt is tokenized as usual and T5's output at the subject word's tokens is
  replaced by the learned vector (no backward pass through T5 when training).

Both vectors have T5's width. Without a learned embedding the prompt is encoded exactly as
``CogVideoXPipeline.encode_prompt`` does (same tokenizer call, same 226-token padding).
"""
from __future__ import annotations

import copy
import re
from typing import Any, Sequence

from evalkit.errors import EvalkitError
from evalkit.generators.families.base import Embeds

MAX_SEQUENCE_LENGTH = 226   # CogVideoXPipeline.encode_prompt's default
TOKEN_SPACES = ("input", "output")


class SubjectPrompts:
    """Prompt encoding with the subject token of a bound model family (its tokenizer and text
    encoder, :meth:`~evalkit.generators.families.base.ModelFamily.text_components`)."""

    def __init__(self, family, token: str, embedding: Any = None, space: str = "input") -> None:
        from tokenizers import AddedToken

        if space not in TOKEN_SPACES:
            raise EvalkitError(f"subject token: token_space {space!r} not in {TOKEN_SPACES}")
        tokenizer, self.encoder = family.text_components()
        self.token, self.embedding, self.device, self.space = token, embedding, family.device, space
        self.tokenizer = copy.deepcopy(tokenizer)
        self.token_id: int | None = None
        if embedding is not None and space == "input":
            self.tokenizer.add_tokens([AddedToken(token, single_word=True, normalized=False)])
            self.token_id = self.tokenizer.convert_tokens_to_ids(token)
            if self.token_id >= self.encoder.get_input_embeddings().num_embeddings:
                raise EvalkitError(f"subject token {token!r}: the text encoder has no embedding row for id "
                                   f"{self.token_id}")

    def ids(self, prompt: str):
        return self.tokenizer(prompt, padding="max_length", max_length=MAX_SEQUENCE_LENGTH, truncation=True,
                              add_special_tokens=True, return_tensors="pt").input_ids.to(self.device)

    def encode(self, prompt: str, *, grad: bool = False) -> Embeds:
        """Prompt embeddings ``[1, 226, d]`` in the text encoder's dtype; differentiable in the
        subject embedding with ``grad``."""
        import torch

        encoder = self.encoder
        ids = self.ids(prompt)
        with torch.set_grad_enabled(grad):
            if self.embedding is None:
                out = encoder(ids)[0]
            elif self.space == "output":
                with torch.no_grad():
                    out = encoder(ids)[0]
                if self.mentions(prompt, self.token):
                    at = torch.zeros(ids.shape[1], dtype=torch.bool, device=out.device)
                    at[self.positions(prompt, [self.token], item="subject token")] = True
                    out = torch.where(at[None, :, None], self.embedding.to(out.dtype).expand_as(out), out)
            else:
                table = encoder.get_input_embeddings()
                x = table(ids)
                learned = self.embedding.to(x.dtype).expand_as(x)
                x = torch.where((ids == self.token_id)[..., None], learned, x)
                out = encoder(inputs_embeds=x)[0]
        return Embeds(out.to(encoder.dtype))

    @staticmethod
    def mentions(prompt: str, word: str):
        """The first whole-word occurrence of ``word`` in ``prompt`` (a regex match) or None."""
        return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", prompt)

    def positions(self, prompt: str, words: Sequence[str], *, item: str = "") -> list[int]:
        """Token positions (within the text tokens) of the first whole-word occurrence of each word."""
        if not getattr(self.tokenizer, "is_fast", False):
            raise EvalkitError(f"{item}: locating the subject's tokens needs a fast tokenizer (offsets)")
        enc = self.tokenizer(prompt, max_length=MAX_SEQUENCE_LENGTH, truncation=True, add_special_tokens=True,
                             return_offsets_mapping=True)
        out: list[int] = []
        for word in words:
            found = self.mentions(prompt, word)
            if not found:
                raise EvalkitError(f"{item}: the prompt {prompt!r} does not contain {word!r}")
            a, b = found.span()
            hits = [i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > s and s < b and e > a]
            if not hits:
                raise EvalkitError(f"{item}: no token of {word!r} within the first {MAX_SEQUENCE_LENGTH} tokens")
            out += hits
        return sorted(set(out))


def initial_embedding(family, class_noun: str, space: str = "input"):
    """The learned token's start (float32): the mean embedding of the class noun's tokens, in T5's
    input table (``"input"``) or T5's output for the class noun alone (``"output"``)."""
    import torch

    tokenizer, encoder = family.text_components()
    ids = tokenizer(class_noun, add_special_tokens=False, return_tensors="pt").input_ids[0]
    if not len(ids):
        raise EvalkitError(f"class noun {class_noun!r} tokenizes to nothing")
    table = encoder.get_input_embeddings().weight
    with torch.no_grad():
        if space == "output":
            return encoder(ids[None].to(table.device))[0][0].float().mean(0).clone()
        return table[ids.to(table.device)].float().mean(0).clone()
