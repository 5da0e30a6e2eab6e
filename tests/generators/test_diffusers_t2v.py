"""Backbone table, loading (local path, hub id in a temporary HF cache, missing), vanilla generation."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.errors import EvalkitError, MissingWeightsError  # noqa: E402
from evalkit.generators.backbones import BACKBONES  # noqa: E402
from evalkit.generators.families import family_class  # noqa: E402
from evalkit.generators.loading import load_pipeline  # noqa: E402
from evalkit.generators.methods.mbq.mbq import PAPER_SETTINGS, SETTINGS  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

SMALL = dict(steps=2, height=32, width=32)


def case(n=4):
    return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(n), 8.0, "src")), "a cat runs",
                              source_prompt="a dog runs")


def test_backbone_table_facts():
    assert set(BACKBONES) == {"wan2.1-1.3b", "wan2.1-14b", "cogvideox-2b", "cogvideox-5b", "ltx-video", "zeroscope",
                              "videocrafter2", "t2v-turbo-v2", "animatediff"}
    wan = BACKBONES["wan2.1-1.3b"]
    assert (wan.pipeline, wan.hub_id, wan.num_frames, wan.family) == (
        "WanPipeline", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", 81, "wan")
    big = BACKBONES["wan2.1-14b"]  # diffusers' WanPipeline example for the 14B
    assert (big.hub_id, big.family, big.height, big.width, big.num_frames, big.fps, big.guidance_scale) == (
        "Wan-AI/Wan2.1-T2V-14B-Diffusers", "wan", 720, 1280, 81, 16.0, 5.0)
    for spec in BACKBONES.values():  # every row names a registered family with its processor and layer regex
        fam = family_class(spec.family)
        assert fam.architecture in ("dit", "unet") and fam.processor and fam.self_attention
    # method defaults live with the method, one row per backbone
    assert set(PAPER_SETTINGS) == set(BACKBONES)
    wan = SETTINGS.for_backbone("wan2.1-1.3b")
    assert (wan.fraction, wan.blocks) == (0.6, tuple(range(20, 30)))
    assert SETTINGS.for_backbone("zeroscope").record == "per-step"
    for name in ("vanilla", "mbq", "kv-injection"):
        assert name in GENERATORS.names()
    with pytest.raises(EvalkitError, match="backbone"):
        GENERATORS.get("vanilla")(backbone="videocrafter1")


def test_missing_weights_is_one_clear_error():
    gen = GENERATORS.get("vanilla")(backbone="wan2.1-1.3b", **SMALL)
    with pytest.raises(MissingWeightsError, match="Wan-AI/Wan2.1-T2V-1.3B-Diffusers"):
        gen.generate(case(), 0)


def test_vanilla_by_local_path_and_by_hub_id(tiny_dirs, tmp_path):
    local = tiny_dirs("wan")
    gen = GENERATORS.get("vanilla")(backbone="wan2.1-1.3b", model_path=local, num_frames=5, **SMALL)
    g = gen.generate(case(), 3)
    assert g.video.frames.shape == (5, 32, 32, 3) and g.video.fps == 16.0
    assert g.timings.inference > 0 and g.timings.inversion == 0
    assert type(gen.pipe.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    again = GENERATORS.get("vanilla")(backbone="wan2.1-1.3b", model_path=local, num_frames=5, **SMALL)
    assert again.pipe is gen.pipe  # loaded once per process
    assert np.array_equal(again.generate(case(), 3).video.frames, g.video.frames)  # seeded

    import diffusers

    tp.into_hf_cache(diffusers.WanPipeline.from_pretrained(local), Path(os.environ["HF_HOME"]),
                     "Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    by_id = GENERATORS.get("vanilla")(backbone="wan2.1-1.3b", num_frames=5, **SMALL)
    assert np.array_equal(by_id.generate(case(), 3).video.frames, g.video.frames)


def test_pipeline_memo_is_keyed_by_dtype(tiny_dirs):
    spec = BACKBONES["wan2.1-1.3b"]
    a = load_pipeline(spec, tiny_dirs("wan"), "float32", "cpu")
    assert load_pipeline(spec, tiny_dirs("wan"), "float32", "cpu") is a
    assert load_pipeline(spec, tiny_dirs("wan"), "bfloat16", "cpu") is not a


def test_source_frames_follow_app_a11(tiny_dirs):
    gen = GENERATORS.get("mbq")(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), **SMALL)
    assert gen.settings.source_frame_repeat == 2
    for n, want in ((16, 33), (24, 49), (4, 9)):
        frames, fps = gen.source_clip(case(n), gen.settings.source_frame_repeat)
        assert (len(frames), fps) == (want, 16.0)
        assert frames.shape[1:] == (32, 32, 3)
    frames, fps = gen.source_clip(case(6), 1)  # no repetition: padded to 4k+1 for the VAE
    assert (len(frames), fps) == (9, 8.0)
    frames, _ = gen.source_clip(case(16), gen.settings.source_frame_repeat)
    src = case(16).source.load().frames
    assert np.array_equal(frames[0], frames[1]) and np.array_equal(frames[-1], frames[-2])
    assert np.array_equal(frames[2], src[1]) and np.array_equal(frames[-1], src[-1])
