"""The model-family registry, and adding a family as one class (tiny Wan, CPU)."""
from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402
from observing import observing  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.backbones import BACKBONES  # noqa: E402
from evalkit.generators.families import FAMILIES, family_class  # noqa: E402
from evalkit.generators.families.wan import WanFamily  # noqa: E402
from evalkit.generators.methods.mbq.mbq import ARCHITECTURE_SETTINGS  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402


def test_registry_holds_one_class_per_family():
    assert {"cogvideox", "ltx", "unet", "wan"} <= set(FAMILIES.names())  # (+ test plug-ins)
    assert family_class("wan") is WanFamily and WanFamily.cfg == "sequential"
    assert family_class("unet").architecture == "unet"
    with pytest.raises(EvalkitError, match="unknown model family 'wann'; did you mean wan"):
        family_class("wann")


class WanLastBlock(WanFamily):
    """A new family in one class: Wan whose only controllable layer is block 1."""
    self_attention = r"^blocks\.1\.attn1$"


def test_a_new_family_and_backbone_plug_in_without_touching_the_generators(tiny_dirs, monkeypatch):
    if "test-wan-last-block" not in FAMILIES:
        FAMILIES.register("test-wan-last-block")(WanLastBlock)
    row = replace(BACKBONES["wan2.1-1.3b"], name="test-wan", family="test-wan-last-block")
    monkeypatch.setitem(BACKBONES, "test-wan", row)
    gen = observing(GENERATORS.get("mbq"))(backbone="test-wan", model_path=tiny_dirs("wan"), steps=2, height=32,
                                           width=32)
    c = MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(4), 8.0)), "a cat", source_prompt="a dog")
    g = gen.generate(c, 0)
    assert sorted(gen.store) == [("blocks.1.attn1", "q", "single")]
    # no MbQ row for the new backbone: the DiT settings of the paper, named in the extras
    assert g.extras["backbone_settings"] == ARCHITECTURE_SETTINGS["dit"].source
    assert (g.extras["source_frame_repeat"], g.video.num_frames) == (1, 5)


@pytest.mark.parametrize("family,backbone,size", [("wan", "wan2.1-1.3b", 32), ("cogvideox", "cogvideox-2b", 16),
                                                  ("ltx", "ltx-video", 32), ("unet", "zeroscope", 32)])
def test_family_contract_encode_then_one_differentiable_step(tiny_dirs, family, backbone, size):
    import torch

    gen = GENERATORS.get("vanilla")(backbone=backbone, model_path=tiny_dirs(family), steps=2, height=size, width=size)
    fam = gen.family
    assert type(fam) is family_class(family)
    frames = tp.moving_square(9, (size, size))
    lat = fam.encode_video(frames, 16.0)
    assert (lat.num_frames, lat.height, lat.width, lat.fps) == (9, size, size, 16.0)
    assert lat.grid[0] == (9 if family == "unet" else 3)  # U-Net: per-frame VAE; DiTs: 4× temporal
    sched = fam.schedule(2, lat)
    x = fam.noise_to(sched, lat.tensor, torch.randn_like(lat.tensor), 0).requires_grad_(True)
    out = fam.denoise_once(lat.with_tensor(x), sched.timesteps[0], gen.embed("a dog"), grad=True)
    assert out.shape == x.shape  # the prediction in the layout the family denoises
    out.float().square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert fam.denoise_once(lat.with_tensor(x), sched.timesteps[0], gen.embed("a dog")).grad_fn is None
