"""Motion by Queries on tiny random-weight pipelines of the real classes (CPU)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402
from observing import observing  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.generators.methods.mbq.mbq import injection_sweep  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

SMALL = dict(steps=3, height=32, width=32)


def case(target="a cat runs", source="a dog runs", n=4):
    return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(n), 8.0, "src")), target,
                              source_prompt=source)


@pytest.mark.parametrize("family,backbone,frames", [("wan", "wan2.1-1.3b", 9), ("cogvideox", "cogvideox-2b", 9),
                                                     ("unet", "zeroscope", 4)])
def test_zero_injection_is_bit_identical_to_vanilla(tiny_dirs, family, backbone, frames):
    opts = dict(backbone=backbone, model_path=tiny_dirs(family), **SMALL)
    if family == "cogvideox":
        opts.update(height=16, width=16)
    van = GENERATORS.get("vanilla")(**opts, num_frames=frames).generate(case(), 7)
    mbq = GENERATORS.get("mbq")(**opts, injection_fraction=0.0, blocks="all").generate(case(), 7)
    assert mbq.video.frames.shape == van.video.frames.shape
    assert np.array_equal(mbq.video.frames, van.video.frames)
    assert mbq.extras["injections"] == 0 and mbq.timings.inversion > 0


def test_wan_recorded_q_shapes_and_full_injection(tiny_dirs):
    # observe the target pass's Q after injection (a test-side behaviour)
    gen = observing(GENERATORS.get("mbq"))(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"),
                                           injection_fraction=1.0, blocks="all", **SMALL)
    g = gen.generate(case(target="a dog runs"), 0)  # the source's own prompt
    store, seen = gen.store, gen.observed.seen
    # 9 frames → 3 latent frames; 32×32 → 4×4 latent → 2×2 patches: 12 tokens; 2 heads × 12
    assert sorted(store) == [("blocks.0.attn1", "q", "single"), ("blocks.1.attn1", "q", "single")]
    for rec in store.values():
        assert (tuple(rec.tensor.shape), rec.layout, rec.rope_applied) == ((1, 12, 2, 12), "BSHD", True)
    assert g.extras["recorded_at_steps"] == [2] and g.extras["injected_steps"] == 3
    assert g.extras["source_frames"] == 9 and g.extras["source_frame_repeat"] == 2
    assert g.extras["recorded_bytes"] == store.nbytes and g.extras["recorded_tensors"] == 2
    # every step, every layer, conditional pass only (Wan runs CFG as two calls: cond first)
    assert sorted(seen) == [(n, s) for n in ("blocks.0.attn1", "blocks.1.attn1") for s in range(3)]
    for (name, step), q in seen.items():
        assert torch.equal(q, store[(name, "q", "single")].tensor)
    assert g.extras["injections"] == 6


def test_unet_per_step_recording_reproduced_at_each_step(tiny_dirs):
    gen = observing(GENERATORS.get("mbq"))(backbone="zeroscope", model_path=tiny_dirs("unet"),
                                           injection_fraction=1.0, **SMALL)
    g = gen.generate(case(target="a dog runs"), 0)
    store, seen = gen.store, gen.observed.seen
    assert g.extras["recorded_at_steps"] == [0, 1, 2]
    layers = sorted({k[0] for k in store})
    assert layers and all(".attentions." in n for n in layers)
    for name in layers:
        for step in range(3):
            rec = store[(name, "q", step)]
            assert rec.layout == "BHSD" and not rec.rope_applied
            assert rec.tensor.shape[0] == 4  # the 4 frames of the conditional video (U-Net rows are frames)
            assert torch.equal(seen[(name, step)], rec.tensor)


def test_injection_changes_the_output_and_fraction_counts_steps(tiny_dirs):
    opts = dict(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), **SMALL)
    van = GENERATORS.get("vanilla")(**opts, num_frames=9).generate(case(), 1)
    part = GENERATORS.get("mbq")(**opts, injection_fraction=0.34, blocks="all")
    assert part.settings.injected_steps == 1
    g = part.generate(case(), 1)
    assert g.extras["injections"] == 2  # one step × two layers
    assert not np.array_equal(g.video.frames, van.video.frames)


def test_injection_sweep_expands_fractions():
    cfgs = injection_sweep({"name": "mbq", "backbone": "wan2.1-1.3b"})
    assert [c["injection_fraction"] for c in cfgs] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    cfgs = injection_sweep({"name": "mbq", "backbone": "zeroscope"})
    assert [c["injection_fraction"] for c in cfgs] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert injection_sweep({"name": "mbq"}, [0.25])[0] == {"name": "mbq", "injection_fraction": 0.25}
    with pytest.raises(Exception, match="outside"):
        injection_sweep({"name": "mbq"}, [1.5])


def test_ltx_records_and_generates_at_the_source_frame_rate(tiny_dirs):
    """LTX's RoPE depends on the frame rate: the recorded Q and the target share it (the clip's)."""
    opts = dict(backbone="ltx-video", model_path=tiny_dirs("ltx"), steps=2, height=32, width=32)
    gen = observing(GENERATORS.get("mbq"))(**opts, injection_fraction=1.0)
    g = gen.generate(case(), 3)
    # 4 frames → 9 (App. A.1.1) at 16 fps; 32×32 → 8×8 latent × 3 latent frames = 192 tokens
    assert (g.video.num_frames, g.video.fps, g.extras["injections"]) == (9, 16.0, 4)
    assert all(tuple(r.tensor.shape) == (1, 192, 4, 8) for r in gen.store.values())
    zero = GENERATORS.get("mbq")(**opts, injection_fraction=0.0).generate(case(), 3)
    van = GENERATORS.get("vanilla")(**opts, num_frames=9)
    at_source_rate = van.to_video(van.sample("a cat runs", 3, num_frames=9, fps=16.0), 16.0, "v")
    at_default_rate = van.generate(case(), 3).video  # the backbone's 25 fps
    assert np.array_equal(zero.video.frames, at_source_rate.frames)
    assert not np.array_equal(at_source_rate.frames, at_default_rate.frames)


def test_scheduler_mu_shifts_the_recording_and_the_sampling_and_is_undone(tiny_dirs):
    """Issue 26 / MbQ App. A.1.1's "μ = 3.065" (Wan, LTX): off by default (the pipeline's static
    shift 3); ``scheduler_mu`` shifts the sigmas by e^μ for the recording and the target pass."""
    import math

    from diffusers import FlowMatchEulerDiscreteScheduler

    opts = dict(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), **SMALL, blocks="all")
    default = GENERATORS.get("mbq")(**opts)
    base = default.generate(case(), 2)
    original = default.family.pipe.scheduler
    shifted_gen = GENERATORS.get("mbq")(**opts, scheduler_mu=3.065)
    shifted = shifted_gen.generate(case(), 2)
    assert shifted_gen.family.pipe.scheduler is original and original.config.shift == 3.0   # restored
    expect = FlowMatchEulerDiscreteScheduler(shift=math.exp(3.065))
    expect.set_timesteps(3)
    step = base.extras["recorded_at_steps"][0]
    recorded = shifted.extras["recorded_at_timesteps"]
    assert recorded == [int(expect.timesteps[step])] != base.extras["recorded_at_timesteps"]
    assert shifted.extras["scheduler_mu"] == 3.065 and base.extras["scheduler_mu"] is None
    assert not np.array_equal(shifted.video.frames, base.video.frames)
    with pytest.raises(Exception, match="flow-matching"):   # a DDIM U-Net has no time shift
        GENERATORS.get("mbq")(backbone="zeroscope", model_path=tiny_dirs("unet"), **SMALL,
                              scheduler_mu=1.0).generate(case(), 0)
