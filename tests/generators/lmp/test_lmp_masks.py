"""LMP's FBDM: subject token positions and the foreground from a known attention map."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.attention import AttentionCall  # noqa: E402
from evalkit.generators.methods.lmp.masks import Foreground, foreground_tokens, subject_token_positions  # noqa: E402
from evalkit.generators.methods.lmp.text_attention import SubjectAttentionProbe  # noqa: E402


def test_subject_token_positions_in_a_t5_style_tokenization():
    tok = tp.t5_tokenizer()   # "▁a ▁dog ▁runs ▁on ▁the ▁road" are single pieces
    assert subject_token_positions(tok, "a dog runs on the road", "dog") == (1,)
    assert subject_token_positions(tok, "a dog runs on the road", "The Road") == (4, 5)   # case-insensitive
    # a word spelt by several pieces: every one of them
    ids = tok("a xyz runs", add_special_tokens=False).input_ids
    pos = subject_token_positions(tok, "a xyz runs", "xyz")
    assert pos == tuple(range(1, len(ids) - 1)) and len(pos) > 1
    with pytest.raises(EvalkitError, match="do not occur"):
        subject_token_positions(tok, "a dog runs on the road", "cat")
    with pytest.raises(EvalkitError, match="do not occur"):   # whole words only
        subject_token_positions(tok, "a dogma", "dog")
    with pytest.raises(EvalkitError, match="beyond the 3 text tokens"):
        subject_token_positions(tok, "a dog runs on the road", "road", max_length=3)


def test_foreground_is_the_high_block_of_a_known_map():
    grid = (2, 3, 4)
    fg = np.zeros(grid, bool)
    fg[0, 1:3, 1:3] = fg[1, 0:2, 2:4] = True
    rng = np.random.default_rng(0)
    attention = np.where(fg, 0.8, 0.1) + rng.uniform(0, 0.05, grid)
    assert np.array_equal(foreground_tokens(attention.reshape(-1), grid), np.flatnonzero(fg))
    assert np.array_equal(foreground_tokens(attention.reshape(-1), grid, "otsu-frame"), np.flatnonzero(fg))
    assert np.array_equal(foreground_tokens(attention.reshape(-1), grid, 0.5), np.flatnonzero(fg))
    assert len(foreground_tokens(np.full(24, 0.3), grid)) == 0        # a flat map has no foreground
    with pytest.raises(EvalkitError, match="does not fit the token grid"):
        foreground_tokens(np.zeros(23), grid)
    with pytest.raises(EvalkitError, match="fbdm_threshold"):
        Foreground(grid, "median")


def test_fbdm_finds_the_tokens_the_subject_word_attends_to():
    """A joint attention where the subject token (text position 2) and a known block of video tokens
    point at each other: the probe's map, thresholded, is exactly that block."""
    grid, text, dim = (2, 2, 3), 4, 8
    n = int(np.prod(grid))
    block = torch.tensor([1, 2, 4, 7, 8, 10])
    g = torch.Generator().manual_seed(0)
    q = 0.1 * torch.randn(1, 1, text + n, dim, generator=g)
    k = 0.1 * torch.randn(1, 1, text + n, dim, generator=g)
    e0, e1 = torch.eye(dim)[0] * 4, torch.eye(dim)[1] * 4
    q[0, 0, 2], k[0, 0, text + block] = e0, e0       # subject text -> block
    q[0, 0, text + block], k[0, 0, 2] = e1, e1       # block -> subject text
    v = torch.zeros_like(q)
    probe = SubjectAttentionProbe(subject=(2,))
    probe(AttentionCall("l", 0, q, k, v, "BHSD", video_start=text), slice(0, 1))
    fg = Foreground(grid)
    fg.update(probe.mean())
    assert torch.equal(fg.tokens(), block) and fg.fractions == [len(block) / n]


def test_foreground_is_not_guessed_before_the_first_map():
    with pytest.raises(EvalkitError, match="before any reference pass"):
        Foreground((1, 2, 2)).tokens()


def test_otsu_threshold_is_exact_on_few_values_and_agrees_with_skimage_on_many():
    from skimage.filters import threshold_otsu

    from evalkit.generators.methods.lmp.masks import otsu_threshold

    # 24 values: skimage's 256-bin histogram put the threshold inside the low cluster here
    assert otsu_threshold(np.array([0.0, 0.0, 0.05, 0.06, 0.95, 1.0])) == pytest.approx(0.505)
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0.2, 0.05, 4000), rng.normal(0.7, 0.05, 2000)])
    # the same split up to skimage's bin width (one value of 6000 falls in its last bin)
    assert ((x > otsu_threshold(x)) != (x > threshold_otsu(x))).mean() < 1e-3
