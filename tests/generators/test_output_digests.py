"""Every registered generator's output on tiny pipelines, pinned by digest.

Refactors of the generators wing must not change a number: each generator runs one small case
on a tiny random-weight pipeline of its family (or no model at all), and the sha256 of its output
frames (plus its guidance losses, where it optimises) must equal the digest recorded in
``data/output_digests.json``. Generators are looked up by registered name only, so the test holds
across any move of the modules behind them.

To record new digests after an intended change of outputs (say why in the CHANGELOG):
``EVALKIT_RECORD_DIGESTS=1 pytest tests/generators/test_output_digests.py``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402
from guidance_tiny import square_case  # noqa: E402
from PIL import Image  # noqa: E402

from evalkit.cases import ImageFiles, InlineVideo, MotionTransferCase, MultiShotCase, PersonalizationCase  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

DIGESTS = Path(__file__).parent / "data" / "output_digests.json"
RECORD = os.environ.get("EVALKIT_RECORD_DIGESTS") == "1"

SHOTS = MultiShotCase("set", "a dog", ("a dog runs", "a dog jumps"))
GUIDED = dict(steps=2, guidance_fraction=0.5, lr_start=0.05, lr_end=0.05, blocks=1, height=48, width=48)
UNET = dict(backbone="zeroscope", height=32, width=32)


def small_mt() -> MotionTransferCase:
    return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(8, (32, 32)), 8.0, "src")),
                              "a cat runs on the road", source_prompt="a dog runs on the road",
                              subject="cat", source_subject="dog")


def personalization(folder: Path) -> PersonalizationCase:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        paths.append(folder / f"{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), np.uint8)).save(paths[-1])
    return PersonalizationCase("dog/00", "dog", "dog", "a sks dog runs on the road", ImageFiles(tuple(paths)))


VWARPER = dict(backbone="cogvideox-5b", steps=3, height=32, width=32, num_frames=9, match_layer=0,
               warp_layers="1", warp_steps="1-2", lora="none")

#: name -> (tiny pipeline family or None, options, case kind); one small case each
CASES: dict[str, tuple[str | None, dict, str]] = {
    "copy": (None, {}, "mt"),
    "static": (None, {}, "mt"),
    "reverse": (None, {}, "mt"),
    "shuffle": (None, {}, "mt"),
    "recolor": (None, {}, "mt"),
    "noise": (None, {}, "mt"),
    "synthetic-shots": (None, {"num_frames": 4}, "shots"),
    "reference-still": (None, {"num_frames": 5, "height": 64, "width": 64}, "pz"),
    "vanilla": ("wan", dict(backbone="wan2.1-1.3b", steps=2, height=32, width=32, num_frames=9), "mt"),
    "mbq": ("wan", dict(backbone="wan2.1-1.3b", steps=2, height=32, width=32, blocks="all"), "mt"),
    "kv-injection": ("cogvideox", dict(backbone="cogvideox-2b", steps=2, height=32, width=32), "mt"),
    "mbq-extended": ("unet", dict(UNET, steps=3, injection_fraction=0.67), "mt4"),
    "storyboard": ("unet", dict(UNET, steps=5, num_frames=4), "shots"),
    "full-q-preservation": ("unet", dict(UNET, steps=5, num_frames=4), "shots"),
    "consistory": ("unet", dict(UNET, steps=5, num_frames=4), "shots"),
    "ditflow": ("cogvideox", dict(backbone="cogvideox-5b", **GUIDED), "square"),
    "fast-vmt": ("wan", dict(backbone="wan2.1-1.3b", **dict(GUIDED, height=64, width=64), opt_steps=4, window=3),
                 "square64"),
    "smm": ("cogvideox", dict(backbone="cogvideox-5b", **GUIDED), "square"),
    "moft": ("cogvideox", dict(backbone="cogvideox-2b", motion_channel_fraction=0.1, **GUIDED), "square"),
    "motionclone": ("unet", dict(UNET, steps=4, guidance_fraction=0.5, warm_up_steps=1, cool_down_steps=1), "square32"),
    "dmt": ("unet", dict(UNET, steps=4, guidance_fraction=0.5, inversion_steps=20, opt_steps=3, lr_start=0.05,
                         lr_end=0.05), "square32"),
    "lmp": ("cogvideox", dict(backbone="cogvideox-5b", steps=3, height=32, width=32, source_frame_repeat=1), "mt"),
    "lmp-no-fbdm": ("cogvideox", dict(backbone="cogvideox-5b", steps=3, height=32, width=32, source_frame_repeat=1), "mt"),
    "lmp-no-asm": ("cogvideox", dict(backbone="cogvideox-5b", steps=3, height=32, width=32, source_frame_repeat=1), "mt"),
    "vwarper": ("cogvideox", VWARPER, "pz"),
    "vwarper-coarse": ("cogvideox", VWARPER, "pz"),
    "vwarper-nomask": ("cogvideox", VWARPER, "pz"),
}
#: registered generators that need files of their own (submissions): covered by tests/generators/test_videos.py
NOT_PINNED = {"videos"}


def make_case(kind: str, tmp_path: Path):
    if kind == "mt":
        return small_mt()
    if kind == "mt4":
        return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(4), 8.0, "src")), "a cat runs",
                                  source_prompt="a dog runs")
    if kind == "square":
        return square_case()
    if kind == "square64":
        return square_case(size=64)
    if kind == "square32":
        return square_case(frames=4, size=32)
    if kind == "shots":
        return SHOTS
    return personalization(tmp_path / "subject")


def output_digest(generation) -> str:
    h = hashlib.sha256()
    for video in generation.videos:
        h.update(repr((video.frames.shape, float(video.fps))).encode())
        h.update(np.ascontiguousarray(video.frames).tobytes())
    losses = generation.extras.get("losses")
    if losses is not None:
        h.update(json.dumps(losses, sort_keys=True).encode())
    return h.hexdigest()


def test_every_registered_generator_is_pinned():
    ours = {n for n in GENERATORS.names() if GENERATORS.get(n).__module__.startswith("evalkit.")}  # not tests' plugins
    assert ours - NOT_PINNED == set(CASES)


@pytest.fixture(scope="module")
def recorded():
    digests = json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}
    yield digests
    if RECORD:
        DIGESTS.parent.mkdir(parents=True, exist_ok=True)
        DIGESTS.write_text(json.dumps(dict(sorted(digests.items())), indent=1) + "\n")


@pytest.fixture(scope="module", autouse=True)
def tiny_clipseg(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["CIDAS/clipseg-rd64-refined"])


@pytest.mark.parametrize("name", list(CASES))   # ~20 s for all on 2 cores
def test_output_is_bit_identical_to_the_recorded_digest(name, tiny_dirs, tmp_path, monkeypatch, recorded):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    family, options, kind = CASES[name]
    if family is not None:
        options = {**options, "model_path": tiny_dirs(family)}
    generation = GENERATORS.get(name)(**options).generate(make_case(kind, tmp_path), 0)
    digest = output_digest(generation)
    if RECORD:
        recorded[name] = digest
    else:
        assert digest == recorded.get(name), f"{name}: output changed (recorded {recorded.get(name)}, now {digest})"
