"""MbQ's source recording (latents + recorded Q) is made once per source and recording settings
and shared by every seed and sweep point; a reused recording gives the same video as a fresh one."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.generators.methods.mbq import mbq  # noqa: E402
from evalkit.generators.methods.mbq.recordings import clear_recordings  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

SMALL = dict(steps=3, height=32, width=32, blocks="all")


def case(shift=0):
    frames = np.roll(tp.moving_square(4), shift, axis=2)
    return MotionTransferCase("c1", InlineVideo(Video(frames, 8.0, "src")), "a cat runs", source_prompt="a dog runs")


@pytest.fixture
def recordings(monkeypatch):
    """A fresh process-wide recording cache (emptied again afterwards); counts the recordings made."""
    clear_recordings()
    made = []
    original = mbq.FeatureInjection.record
    monkeypatch.setattr(mbq.FeatureInjection, "record", lambda self, c, store, n:
                        made.append(self.options["injection_fraction"]) or original(self, c, store, n))
    yield made
    clear_recordings()


def test_seeds_and_sweep_points_share_one_recording(tiny_dirs, recordings):
    opts = dict(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), **SMALL)
    sweep = [GENERATORS.get("mbq")(**opts, injection_fraction=f) for f in (0.34, 0.67)]
    runs = [(g, seed, g.generate(case(), seed)) for g in sweep for seed in (0, 1)]
    assert recordings == [0.34]  # Wan records one low-noise step: the same for every fraction and seed
    assert [r.extras["recording_cached"] for _, _, r in runs] == [False, True, True, True]
    assert runs[3][2].timings.inversion < runs[0][2].timings.inversion
    clear_recordings()  # a fresh recording gives the same video
    g, seed, cached = runs[3]
    assert np.array_equal(g.generate(case(), seed).video.frames, cached.video.frames)
    GENERATORS.get("mbq")(**opts, injection_fraction=0.34).generate(case(shift=3), 0)  # another source
    assert len(recordings) == 3


def test_per_step_recordings_differ_by_fraction_but_not_by_seed(tiny_dirs, recordings):
    opts = dict(backbone="zeroscope", model_path=tiny_dirs("unet"), **SMALL)
    for f in (0.34, 0.67):
        gen = GENERATORS.get("mbq")(**opts, injection_fraction=f)
        for seed in (0, 1):
            gen.generate(case(), seed)
    assert recordings == [0.34, 0.67]  # per step: each fraction records its own steps
