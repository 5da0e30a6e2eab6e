"""VBench Subject / Background Consistency: the formula on hand-computed feature sequences,
static videos score 1, a one-frame video is a clear error, features are shared."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, InlineVideo, MotionTransferCase
from evalkit.errors import InvalidInputError
from evalkit.features.base import FeatureContext
from evalkit.metrics.background_consistency import BackgroundConsistency
from evalkit.metrics.identity_leakage import IdentityLeakage
from evalkit.metrics.subject_consistency import SubjectConsistency, vbench_consistency
from evalkit.synthetic import SyntheticSpec, render
from evalkit.video import Video


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["facebook/dino-vitb16", "openai/clip-vit-base-patch32"])


def unit(deg):
    r = np.deg2rad(deg)
    return np.array([np.cos(r), np.sin(r)], np.float32)


def test_formula_on_hand_computed_sequences():
    # angles 0, 30, 60: i=1 (cos30 + cos30)/2, i=2 (cos30 + cos60)/2
    f = np.stack([unit(0), unit(30), unit(60)])
    c30, c60 = np.cos(np.pi / 6), 0.5
    assert vbench_consistency(f) == pytest.approx(((c30 + c30) / 2 + (c30 + c60) / 2) / 2, abs=1e-6)
    # negative cosines clip at 0: e1, e1, e2, -e1 -> terms 1, 0, 0
    g = np.array([[1, 0], [1, 0], [0, 1], [-1, 0]], np.float32)
    assert vbench_consistency(g) == pytest.approx(1 / 3, abs=1e-6)


def run(metric, video):
    case = MotionTransferCase("c", InlineVideo(video), "a cat")
    return metric(case, Generation((video,)), FeatureContext())


@pytest.mark.parametrize("metric", [SubjectConsistency, BackgroundConsistency])
def test_static_video_scores_one_and_one_frame_is_an_error(metric):
    static = render(SyntheticSpec("static", num_frames=4, height=64, width=80)).video
    assert run(metric(), static).value == pytest.approx(1.0, abs=1e-5)
    one = Video(static.frames[:1], origin="one.mp4")
    with pytest.raises(InvalidInputError, match="one.mp4.*at least 2 frames"):
        run(metric(), one)
    with pytest.raises(InvalidInputError, match="at least 2 frames"):
        vbench_consistency(np.ones((1, 4), np.float32))


def test_dino_features_are_computed_once_per_video(monkeypatch):
    from evalkit.features.dino import DinoBackend

    calls = []
    original = DinoBackend.embed
    monkeypatch.setattr(DinoBackend, "embed", lambda self, frames: calls.append(len(frames)) or original(self, frames))
    source = render(SyntheticSpec("translation", num_frames=5, height=64, width=80)).video
    generated = render(SyntheticSpec("rotation", num_frames=5, height=64, width=80)).video
    case = MotionTransferCase("c", InlineVideo(source), "a cat")
    ctx = FeatureContext()
    gen = Generation((generated,))
    for metric in (SubjectConsistency(), IdentityLeakage(), IdentityLeakage(pairing="matched")):
        metric(case, gen, ctx)
    assert calls == [5, 5]  # generated once (shared by three metrics) + source once


def test_background_consistency_fp16_is_vbench_on_a_gpu():
    import torch

    from evalkit.features.base import load_backend

    video = render(SyntheticSpec("translation", num_frames=4, height=64, width=80)).video
    clip = load_backend("clip-vit-b32", preprocess="vbench-clip", precision="openai-fp16")
    feats = torch.from_numpy(clip.embed(video.frames)).half()  # F.normalize of clip.load's fp16 output
    # vbench/background_consistency.py: one F.cosine_similarity per pair on fp16 features, .item()
    video_sim = 0.0
    for i in range(1, len(feats)):
        sim_pre = max(0.0, torch.nn.functional.cosine_similarity(feats[i - 1:i], feats[i:i + 1]).item())
        sim_fir = max(0.0, torch.nn.functional.cosine_similarity(feats[:1], feats[i:i + 1]).item())
        video_sim += (sim_pre + sim_fir) / 2
    expected = video_sim / (len(feats) - 1)
    assert run(BackgroundConsistency(fp16=True), video).value == pytest.approx(expected, abs=1e-12)
    assert run(BackgroundConsistency(), video).value != pytest.approx(expected, abs=1e-12)
