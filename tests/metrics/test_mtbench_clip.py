"""clip-text[protocol=mtbench]: MTBench's CLIP_Score text and preprocessing, against the released
``calculate_clip`` run on evalkit's tiny random CLIP (tests/metrics/data/mtbench_released/)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, InlineVideo, MotionTransferCase
from evalkit.features.base import FeatureContext, load_backend
from evalkit.metrics.clip_text import ClipText
from evalkit.video import Video

from .mtbench_clips import CLIPS, PROMPT_DIR, clip_frames

RELEASED = Path(__file__).parent / "data" / "mtbench_released" / "clip_values.json"


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["openai/clip-vit-base-patch32"])


def _case(video, **meta):
    return MotionTransferCase("c/0", InlineVideo(video), "A robot is dancing on the stage", meta=meta)


def test_text_is_the_output_folder_read_back_and_frames_get_the_clip_preset():
    video = Video(clip_frames(CLIPS[0]), fps=8.0)
    metric = ClipText(protocol="mtbench")
    assert metric.backend_options["preprocess"] == "clip"
    # a target prompt without a final '.' is scored with one, as CLIP_Score reads it from the folder
    result = metric(_case(video), Generation((video,)), FeatureContext())
    assert result.details["text"] == "A robot is dancing on the stage."
    clip = load_backend("clip-vit-b32", preprocess="clip")
    cos = clip.embed(video.frames) @ clip.embed_texts(["A robot is dancing on the stage."])[0]
    assert result.value == pytest.approx(cos.mean(), abs=1e-6)
    assert result.details["mtbench_logits"] == pytest.approx(result.details["logit_scale"] * cos.mean(), rel=1e-6)
    lead = metric(_case(video, output_dir="_An_astronaut"), Generation((video,)), FeatureContext())
    assert lead.details["text"] == " An astronaut."  # the leading space the folder keeps


def test_equals_the_released_calculate_clip_on_a_random_clip():
    fixture = json.loads(RELEASED.read_text())
    assert fixture["reference"].startswith("Shi-qingyu/DeT@2a2f4dd")
    differences = []
    for spec, released in zip(CLIPS, fixture["clips"]):
        video = Video(clip_frames(spec), fps=8.0)
        result = ClipText(protocol="mtbench")(_case(video, output_dir=PROMPT_DIR), Generation((video,)),
                                              FeatureContext())
        assert result.details["logit_scale"] == pytest.approx(released["logit_scale"], rel=1e-7)
        differences.append(abs(result.details["mtbench_logits"] - released["mtbench_logits"]))
    assert max(differences) < 1e-5, differences  # measured: docs/metrics/fidelity.md
    assert np.isfinite(differences).all()
