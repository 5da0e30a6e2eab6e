"""LMP's Fore-Background Disentangle Module (FBDM, LMP paper Sec. 4.2): subject tokens of a
prompt and the foreground video tokens they attend to.

- :func:`subject_token_positions`: where the subject words sit among the prompt's text tokens
  (the paper asks an LLM for the subject words; evalkit takes them from the case:
  ``source_subject``, e.g. the DAVIS annotation of ``datasets/ditflow_davis.json``).
- :func:`foreground_tokens`: the video tokens with "high responded attention values" (Sec. 4.2).
  The paper gives no rule; evalkit thresholds the min–max normalised map with Otsu's method
  (exact, on the values) over the whole video (``"otsu"``, default), per latent frame (``"otsu-frame"``) or at a fixed
  fraction of the range (a float in [0, 1]).
- :class:`Foreground`: the latest foreground of the reference during a generation ("dynamically
  ... during the denoising process", Sec. 4.2), refreshed from each reference pass.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError

THRESHOLDS = ("otsu", "otsu-frame")


def subject_token_positions(tokenizer, prompt: str, words: str, max_length: int | None = None) -> tuple[int, ...]:
    """Positions of the tokens of ``words`` (first whole-word, case-insensitive occurrence in
    ``prompt``) in the tokenization of ``prompt``, counted as the prompt's tokens are laid out in
    the text sequence (no leading special token, as T5). Tokens are counted on the prompt's prefix
    before the words and through them; an error names the words when they are absent, when the
    prefix does not tokenize as the start of the prompt, or when they lie beyond ``max_length``."""
    if not words or not words.strip():
        raise EvalkitError(f"no subject words given for the prompt {prompt!r}")
    found = re.search(r"(?<!\w)" + re.escape(words.strip()) + r"(?!\w)", prompt, flags=re.IGNORECASE)
    if found is None:
        raise EvalkitError(f"subject words {words!r} do not occur in the prompt {prompt!r}")

    def ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False).input_ids) if text else []

    before, through, full = ids(prompt[:found.start()].rstrip()), ids(prompt[:found.end()]), ids(prompt)
    if through[:len(before)] != before or full[:len(through)] != through or len(through) == len(before):
        raise EvalkitError(f"subject words {words!r}: their tokens in {prompt!r} cannot be told apart "
                           "(the prefix does not tokenize as the start of the prompt)")
    positions = tuple(range(len(before), len(through)))
    if max_length is not None and positions[-1] >= max_length:
        raise EvalkitError(f"subject words {words!r} lie beyond the {max_length} text tokens the model reads "
                           f"(prompt {prompt!r} is truncated before them)")
    return positions


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold on the values themselves (no histogram bins, so a few hundred tokens
    split exactly): the midpoint of the split of the sorted values with the largest
    between-class variance."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x[0] == x[-1]:
        return float(x[0])
    csum, n = np.cumsum(x), len(x)
    k = np.arange(1, n)                       # the lower class is x[:k]
    low, high = csum[:-1] / k, (csum[-1] - csum[:-1]) / (n - k)
    between = (k / n) * (1 - k / n) * (low - high) ** 2
    between[x[:-1] == x[1:]] = -1.0           # no split between equal values
    i = int(np.argmax(between))
    return float((x[i] + x[i + 1]) / 2)


def foreground_tokens(attention_map, grid: tuple[int, int, int], threshold: Any = "otsu") -> np.ndarray:
    """Indices (in token order: frame, row, column) of the foreground tokens of a ``[N]`` map over
    the ``grid`` = (frames, height, width) of video tokens. A constant map (or frame, per frame)
    has no foreground."""
    f, h, w = grid
    values = np.asarray(attention_map.detach().float().cpu().numpy() if hasattr(attention_map, "detach")
                        else attention_map, dtype=np.float64)
    if values.size != f * h * w:
        raise EvalkitError(f"FBDM: an attention map of {values.size} tokens does not fit the token grid {grid}")
    groups = values.reshape(f, h * w) if threshold == "otsu-frame" else values.reshape(1, -1)
    keep = np.zeros_like(groups, dtype=bool)
    for i, g in enumerate(groups):
        lo, hi = g.min(), g.max()
        if not np.isfinite(g).all():
            raise EvalkitError("FBDM: the subject attention map is not finite")
        if hi <= lo:
            continue
        x = (g - lo) / (hi - lo)
        thr = otsu_threshold(x) if threshold in THRESHOLDS else float(threshold)
        keep[i] = x > thr
    return np.flatnonzero(keep.reshape(-1))


def check_threshold(value: Any) -> Any:
    if value in THRESHOLDS:
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = -1.0
    if not 0.0 <= v <= 1.0:
        raise EvalkitError(f"lmp: fbdm_threshold={value!r} must be one of {THRESHOLDS} or a number in [0, 1]")
    return v


class Foreground:
    """The reference's current foreground tokens, refreshed by :meth:`update`."""

    def __init__(self, grid: tuple[int, int, int], threshold: Any = "otsu") -> None:
        self.grid, self.threshold = grid, check_threshold(threshold)
        self.indices = None
        self.fractions: list[float] = []   # foreground share of each refresh, in order

    def update(self, attention_map) -> None:
        import torch

        idx = foreground_tokens(attention_map, self.grid, self.threshold)
        self.indices = torch.from_numpy(idx).long()
        self.fractions.append(len(idx) / float(np.prod(self.grid)))

    def tokens(self):
        if self.indices is None:
            raise EvalkitError("FBDM: the reference's foreground was asked for before any reference pass")
        return self.indices
