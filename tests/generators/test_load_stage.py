"""Defect "runtime includes pipeline loading": loading is its own stage, never in a generation's timings."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.generators import loading  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

LOAD_S = 1.5


@pytest.fixture
def slow_loader(monkeypatch):
    """The real pipeline loader, LOAD_S seconds slower; counts its calls."""
    real = loading.load_pipeline
    calls = []

    def slow(*args, **kwargs):
        calls.append(args)
        time.sleep(LOAD_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(loading, "load_pipeline", slow)
    return calls


def case():
    return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(4), 8.0, "src")), "a cat runs",
                              source_prompt="a dog runs")


@pytest.mark.parametrize("name,opts", [("vanilla", {"num_frames": 5}), ("mbq", {"blocks": "all"})])
def test_first_generation_timings_exclude_loading(tiny_dirs, slow_loader, name, opts):
    gen = GENERATORS.get(name)(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), steps=2, height=32,
                               width=32, **opts)
    t0 = time.perf_counter()
    g = gen.generate(case(), 0)  # the runner did not call load(): generate() must load before timing
    wall = time.perf_counter() - t0
    assert len(slow_loader) == 1
    # with loading inside a stage, total >= LOAD_S; without, the LOAD_S seconds are untimed
    assert g.timings.total < wall - 0.9 * LOAD_S, (g.timings, wall)


def test_load_is_idempotent_and_precedes_generation(tiny_dirs, slow_loader):
    gen = GENERATORS.get("vanilla")(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), steps=2, height=32,
                                    width=32, num_frames=5)
    gen.load()
    assert len(slow_loader) == 1
    gen.load()
    t0 = time.perf_counter()
    g = gen.generate(case(), 0)
    assert len(slow_loader) == 1  # neither the second load() nor generate() loads again
    assert time.perf_counter() - t0 < LOAD_S + g.timings.total
