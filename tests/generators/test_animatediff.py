"""AnimateDiff (diffusers' AnimateDiffPipeline + MotionAdapter) as a backbone (tiny, CPU)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402
from observing import observing  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.errors import MissingWeightsError  # noqa: E402
from evalkit.generators.families import family_class  # noqa: E402
from evalkit.generators.families.animatediff import MOTION_ADAPTER_ID  # noqa: E402
from evalkit.generators.methods.mbq.mbq import PAPER_SETTINGS  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

SMALL = dict(steps=3, height=32, width=32)


@pytest.fixture(scope="module")
def ad_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("animatediff") / "pipe"
    tp.tiny_animatediff().save_pretrained(str(folder))
    return str(folder)


def case(target="a cat runs", source="a dog runs", n=4):
    return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(n), 8.0, "src")), target,
                              source_prompt=source)


def test_vanilla_and_family_contract(ad_dir):
    van = GENERATORS.get("vanilla")(backbone="animatediff", model_path=ad_dir, num_frames=4, **SMALL)
    g = van.generate(case(), 0)
    fam = van.family
    assert type(fam) is family_class("animatediff") and type(fam.denoiser).__name__ == "UNetMotionModel"
    assert g.video.frames.shape == (4, 32, 32, 3) and g.video.fps == 8.0
    lat = fam.encode_video(tp.moving_square(5), 8.0)
    assert tuple(lat.tensor.shape) == (1, 4, 5, 8, 8)
    sched = fam.schedule(3, lat)
    x = fam.noise_to(sched, lat.tensor, torch.randn_like(lat.tensor), 0).requires_grad_(True)
    out = fam.denoise_once(lat.with_tensor(x), sched.timesteps[0], van.embed("a dog"), grad=True)
    out.square().mean().backward()
    assert out.shape == x.shape and x.grad.abs().sum() > 0
    from evalkit.generators.attention import self_attention_layers

    layers = self_attention_layers(fam.denoiser, type(fam))
    assert layers and all(".attentions." in n and "motion_modules" not in n for n in layers)


def test_mbq_zero_injection_is_vanilla_and_full_injection_reproduces_q(ad_dir):
    opts = dict(backbone="animatediff", model_path=ad_dir, **SMALL)
    van = GENERATORS.get("vanilla")(**opts, num_frames=4).generate(case(), 5)
    zero = GENERATORS.get("mbq")(**opts, injection_fraction=0.0).generate(case(), 5)
    assert np.array_equal(zero.video.frames, van.video.frames)
    gen = observing(GENERATORS.get("mbq"))(**opts, injection_fraction=1.0)
    g = gen.generate(case(target="a dog runs"), 0)
    assert g.extras["backbone_settings"] == PAPER_SETTINGS["animatediff"].source   # not in the paper
    s = PAPER_SETTINGS["animatediff"]
    assert (s.record, s.fraction, s.blocks, s.consistency_steps) == ("per-step", 0.4, None, 2)
    assert g.extras["recorded_at_steps"] == [0, 1, 2]
    for (name, _, step), rec in gen.store.items():
        assert rec.tensor.shape[0] == 4 and torch.equal(gen.observed.seen[(name, step)], rec.tensor)


def test_a_stable_diffusion_folder_gets_the_motion_adapter_or_one_clear_error(tmp_path, monkeypatch):
    from diffusers import StableDiffusionPipeline

    parts, adapter = tp.tiny_animatediff_parts()
    sd = tmp_path / "sd"
    StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(str(sd))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("EVALKIT_WEIGHTS_DIR", raising=False)
    with pytest.raises(MissingWeightsError, match=f"AnimateDiff motion adapter weights '{MOTION_ADAPTER_ID}' not "
                                                  "found offline"):
        GENERATORS.get("vanilla")(backbone="animatediff", model_path=str(sd), **SMALL).load()
    rev = hashlib.sha1(MOTION_ADAPTER_ID.encode()).hexdigest()
    repo = tmp_path / "hf" / "hub" / f"models--{MOTION_ADAPTER_ID.replace('/', '--')}"
    adapter.save_pretrained(str(repo / "snapshots" / rev))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    gen = GENERATORS.get("vanilla")(backbone="animatediff", model_path=str(sd), num_frames=4, **SMALL)
    cfg = gen.pipe.scheduler.config   # AnimateDiff's sampler
    assert (type(gen.pipe.scheduler).__name__, cfg.beta_schedule, cfg.timestep_spacing, cfg.steps_offset,
            cfg.clip_sample) == ("DDIMScheduler", "linear", "linspace", 1, False)
    assert gen.generate(case(), 0).video.frames.shape == (4, 32, 32, 3)
