"""ConsiStory-style video SDSA (``consistory``) and MbQ Fig. 3's extended attention + Q injection
(``mbq-extended``) on tiny random-weight pipelines (CPU).

Known answers: SDSA with one shot equals vanilla; ``mbq-extended`` with a batch of one video is
``mbq`` (nothing to extend), and with no injected step and one video it is ``vanilla``.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase, MultiShotCase  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

SET = MultiShotCase("set", "a dog", ("a dog runs", "a dog jumps"))
ONE = MultiShotCase("one", "a dog", ("a dog runs",))
UNET = dict(backbone="zeroscope", steps=5, height=32, width=32, num_frames=4)


@pytest.fixture(scope="module", autouse=True)
def tiny_clipseg(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["CIDAS/clipseg-rd64-refined"])


def mt_case(target="a cat runs"):
    return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(4), 8.0, "src")), target,
                              source_prompt="a dog runs")


def test_sdsa_with_one_shot_equals_vanilla(tiny_dirs):
    opts = dict(UNET, model_path=tiny_dirs("unet"))
    van = GENERATORS.get("vanilla")(**opts).generate(ONE, 3)
    one = GENERATORS.get("consistory")(**opts).generate(ONE, 3)
    assert np.array_equal(van.video.frames, one.video.frames)


@pytest.mark.slow
def test_consistory_shares_attention_without_touching_q(tiny_dirs):
    opts = dict(UNET, model_path=tiny_dirs("unet"))
    van = GENERATORS.get("vanilla")(**opts).generate(SET, 3)
    g = GENERATORS.get("consistory")(**opts).generate(SET, 3)
    e = g.extras
    assert e["q_mode"] == "none" and e["q_preserved"] == 0 and e["q_flowed"] == 0
    assert "vanilla_pass" not in e["passes_s"] and e["sdsa_calls"] > 0 and e["refined_calls"] > 0
    assert not all(np.array_equal(a.frames, b.frames) for a, b in zip(van.videos, g.videos))
    naive = GENERATORS.get("consistory")(**opts, sdsa_frames="all", sdsa_dropout=0.5, refine_passes="cond")
    assert not all(np.array_equal(a.frames, b.frames) for a, b in zip(g.videos, naive.generate(SET, 3).videos))


@pytest.mark.slow
def test_consistory_on_wan(tiny_dirs):
    opts = dict(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), steps=4, height=32, width=32, num_frames=9)
    van = GENERATORS.get("vanilla")(**opts).generate(SET, 0)
    g = GENERATORS.get("consistory")(**opts).generate(SET, 0)
    assert g.extras["sdsa_calls"] > 0 and len(g.videos) == 2 and g.videos[0].frames.shape == (9, 32, 32, 3)
    assert not all(np.array_equal(a.frames, b.frames) for a, b in zip(van.videos, g.videos))


@pytest.mark.parametrize("family,backbone", [("unet", "zeroscope"), ("wan", "wan2.1-1.3b")])
def test_a_batch_of_one_is_mbq(tiny_dirs, family, backbone):
    opts = dict(backbone=backbone, model_path=tiny_dirs(family), steps=3, height=32, width=32, blocks="all",
                injection_fraction=0.67)
    mbq = GENERATORS.get("mbq")(**opts).generate(mt_case(), 4)
    one = GENERATORS.get("mbq-extended")(**opts, batch_videos=1).generate(mt_case(), 4)
    assert np.array_equal(mbq.video.frames, one.video.frames) and one.extras["injections"] == mbq.extras["injections"]


@pytest.mark.slow
def test_extended_batch_of_three(tiny_dirs):
    opts = dict(backbone="zeroscope", model_path=tiny_dirs("unet"), steps=3, height=32, width=32)
    van = GENERATORS.get("vanilla")(**opts, num_frames=4).generate(mt_case(), 2)
    zero = GENERATORS.get("mbq-extended")(**opts, injection_fraction=0.0, batch_videos=1).generate(mt_case(), 2)
    assert np.array_equal(van.video.frames, zero.video.frames)
    three = GENERATORS.get("mbq-extended")(**opts, injection_fraction=0.67, keep="all").generate(mt_case(), 2)
    assert len(three.videos) == 3 and three.extras["batch_videos"] == 3 and three.extras["extended_calls"] > 0
    first = GENERATORS.get("mbq-extended")(**opts, injection_fraction=0.67).generate(mt_case(), 2)
    assert len(first.videos) == 1 and np.array_equal(first.video.frames, three.videos[0].frames)


@pytest.mark.slow
def test_evalkit_run_mbq_extended_on_a_motion_suite(tiny_dirs, tmp_path):
    from cli_runs import run_config

    cfg = {"dataset": {"name": "synthetic", "motions": ["translation"], "num_frames": 4, "height": 32, "width": 32},
           "generators": [{"name": "mbq-extended", "backbone": "zeroscope", "model_path": tiny_dirs("unet"),
                           "steps": 3, "height": 32, "width": 32}],
           "metrics": ["runtime", "motion-fidelity[backend=klt]"]}
    _, df = run_config(tmp_path, cfg)
    assert len(df) == 2 and (df["status"] == "ok").all(), df[["metric", "error"]]
