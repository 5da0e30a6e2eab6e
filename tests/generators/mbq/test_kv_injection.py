"""KV-injection baseline (DiTFlow Sec. 5.1) on a tiny CogVideoX pipeline."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402
from observing import observing  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402


def test_kv_injection_records_k_and_v_of_the_first_block(tiny_dirs):
    opts = dict(backbone="cogvideox-2b", model_path=tiny_dirs("cogvideox"), steps=2, height=16, width=16)
    c = MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(4, (16, 16)), 8.0)), "a cat", source_prompt="a dog")
    gen = observing(GENERATORS.get("kv-injection"))(**opts)
    g = gen.generate(c, 0)
    store = gen.store
    assert sorted(store) == [("transformer_blocks.0.attn1", "k", "single"),
                             ("transformer_blocks.0.attn1", "v", "single")]
    # 9 frames → 3 latent frames; 16×16 px → 2×2 latent → one 2×2 patch: 3 video tokens (text excluded)
    assert all(r.layout == "BHSD" and r.tensor.shape == (1, 4, 3, 16) for r in store.values())
    # both CFG passes (batched [uncond, cond]) at both steps
    assert g.extras["injections"] == 2
    van = GENERATORS.get("vanilla")(**opts, num_frames=9).generate(c, 0)
    assert g.video.frames.shape == van.video.frames.shape
    assert not np.array_equal(g.video.frames, van.video.frames)


def test_the_ditflow_release_injection_row_is_ditflow_without_optimisation(tiny_dirs):
    """Issue 26: DiTFlow's released "Injection" row records K, V at each guided step (the first 20 %)
    from the source noised with the generation's own noise, with the target prompt, and injects only
    there: ``ditflow`` with ``opt_steps=0`` (docs/generators/mbq.md). ``kv-injection`` is the paper's
    reading: one recording at the lowest noise with the empty prompt, injected at every step."""
    opts = dict(backbone="cogvideox-2b", model_path=tiny_dirs("cogvideox"), steps=5, height=16, width=16)
    c = MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(4, (16, 16)), 8.0)), "a cat", source_prompt="a dog")
    release = GENERATORS.get("ditflow")(**opts, opt_steps=0, blocks=1).generate(c, 0)   # tiny: 2 blocks
    e = release.extras
    assert e["opt_steps"] == 0 and e["guided_steps"] == [0] and e["kv_layers"] == ["transformer_blocks.0.attn1"]
    assert e["kv_injections"] > 0 and all(not v for v in e["losses"].values())   # injected, nothing optimised
    paper = GENERATORS.get("kv-injection")(**opts).generate(c, 0)
    assert paper.extras["injections"] == 5                                          # every step, one layer
    assert not np.array_equal(release.video.frames, paper.video.frames)
