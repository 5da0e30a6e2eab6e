"""CLIP text similarity, CLIPScore, CLIP temporal consistency (tiny real CLIPModel)."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, ImageFiles, InlineVideo, MotionTransferCase, MultiShotCase, PersonalizationCase
from evalkit.errors import InvalidInputError
from evalkit.features.base import FeatureContext, load_backend
from evalkit.metrics.clip_score import ClipScore
from evalkit.metrics.clip_temporal_consistency import ClipTemporalConsistency
from evalkit.metrics.clip_text import ClipText, prompts_per_video
from evalkit.synthetic import SyntheticSpec, render
from evalkit.video import Video


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["openai/clip-vit-base-patch32"])


VIDEO = render(SyntheticSpec("translation", num_frames=4, height=64, width=80)).video


def manual_cosines(video, prompt):
    clip = load_backend("clip-vit-b32", preprocess="vbench-clip")
    return clip.embed(video.frames) @ clip.embed_texts([prompt])[0]


def test_clip_text_and_clipscore_match_the_definition():
    case = MotionTransferCase("c", InlineVideo(VIDEO), "a red ball rolling")
    cos = manual_cosines(VIDEO, "a red ball rolling")
    ctx = FeatureContext()
    assert ClipText()(case, Generation((VIDEO,)), ctx).value == pytest.approx(cos.mean(), abs=1e-6)
    assert ClipScore()(case, Generation((VIDEO,)), ctx).value == pytest.approx(
        np.mean(2.5 * np.maximum(cos, 0)), abs=1e-6)
    assert ctx.misses == 2  # frames and text embedded once, shared by both metrics


def test_prompts_per_case_kind():
    shots = (VIDEO, VIDEO.reversed())
    multi = MultiShotCase("m", "a girl", ("a girl runs", "a girl sits"))
    assert prompts_per_video(multi, 2) == ["a girl runs", "a girl sits"]
    with pytest.raises(InvalidInputError, match="2 prompts for 3 shots"):
        prompts_per_video(multi, 3)
    person = PersonalizationCase("p", "dog", "dog", "a sks dog in the snow", ImageFiles(()))
    assert prompts_per_video(person, 1) == ["a dog in the snow"]
    value = ClipText()(multi, Generation(shots), FeatureContext()).value
    expected = np.mean([manual_cosines(VIDEO, "a girl runs").mean(),
                        manual_cosines(VIDEO.reversed(), "a girl sits").mean()])
    assert value == pytest.approx(expected, abs=1e-6)


def test_temporal_consistency():
    static = render(SyntheticSpec("static", num_frames=3, height=64, width=80)).video
    case = MotionTransferCase("c", InlineVideo(static), "p")
    assert ClipTemporalConsistency()(case, Generation((static,)), FeatureContext()).value == pytest.approx(1.0, abs=1e-5)
    clip = load_backend("clip-vit-b32", preprocess="vbench-clip")
    f = clip.embed(VIDEO.frames)
    expected = np.mean([f[i] @ f[i + 1] for i in range(3)])
    assert ClipTemporalConsistency()(case, Generation((VIDEO,)), FeatureContext()).value == pytest.approx(expected, abs=1e-6)
    with pytest.raises(InvalidInputError, match="at least 2 frames"):
        ClipTemporalConsistency()(case, Generation((Video(static.frames[:1]),)), FeatureContext())


def test_ditflow_protocol_uses_openai_clip_preprocessing():
    case = MotionTransferCase("c", InlineVideo(VIDEO), "a red ball rolling")
    clip = load_backend("clip-vit-b32", preprocess="clip")  # OpenAI CLIP's PIL preprocess
    expected = np.mean(clip.embed(VIDEO.frames) @ clip.embed_texts(["a red ball rolling"])[0])
    ditflow = ClipText(protocol="ditflow")
    assert ditflow(case, Generation((VIDEO,)), FeatureContext()).value == pytest.approx(expected, abs=1e-6)
    assert ditflow.column == "clip-text[clip-vit-b32,protocol=ditflow]"
    default = ClipText()(case, Generation((VIDEO,)), FeatureContext()).value
    assert abs(default - expected) > 1e-6  # VBench's float bicubic crop is another input


def test_ditflow_fp16_forms_the_score_as_its_script_does_on_a_gpu():
    import torch

    case = MotionTransferCase("c", InlineVideo(VIDEO), "a red ball rolling")
    clip = load_backend("clip-vit-b32", preprocess="clip", precision="openai-fp16")
    frames, text = clip.embed(VIDEO.frames), clip.embed_texts(["a red ball rolling"])
    # eval/clip_score.py calculate_clip_score, line by line, on the fp16 unit vectors
    score_acc = 0.
    for f in frames:
        image_features, text_features = torch.from_numpy(f)[None].half(), torch.from_numpy(text).half()
        score = (text_features * image_features).sum()
        score_acc += score
    assert score_acc.dtype == torch.float16  # the running sum is an fp16 tensor
    expected = (score_acc / len(frames)).item()
    value = ClipText(protocol="ditflow", fp16=True)(case, Generation((VIDEO,)), FeatureContext()).value
    assert value == expected


def test_clipscore_conventions_hessel_and_torchmetrics():
    frames = np.array([[1.0, 0.0], [-0.6, 0.8]], np.float32)   # cosines 1 and -0.6 with the text
    text = np.array([1.0, 0.0], np.float32)
    assert ClipScore().video_score(frames, text) == pytest.approx(1.25)             # mean 2.5·max(cos, 0)
    assert ClipScore(convention="torchmetrics").video_score(frames, text) == pytest.approx(20.0)  # max(100·mean, 0)
    assert ClipScore(convention="torchmetrics").video_score(-frames, text) == 0.0
