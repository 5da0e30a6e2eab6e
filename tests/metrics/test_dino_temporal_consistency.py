"""dino-temporal-consistency (MTBench's TC): the definition, the pooler it reads, and the released
``calculate_dino`` on evalkit's tiny random DINO (tests/metrics/data/mtbench_released/)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, InlineVideo, MotionTransferCase
from evalkit.features import base
from evalkit.features.base import FeatureContext
from evalkit.metrics.dino_temporal_consistency import DinoTemporalConsistency, mtbench_temporal_consistency
from evalkit.video import Video

from .mtbench_clips import CLIPS, clip_frames

RELEASED = Path(__file__).parent / "data" / "mtbench_released" / "dino_values.json"


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    return install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["facebook/dino-vitb16"])


def test_known_answer_first_and_previous_frame_means_over_all_frames():
    e0, e1 = np.eye(2)
    # frames: e0, e1, e1 → first-frame cosines 1, 0, 0; previous-frame cosines 1 (itself), 0, 1
    value, first, prev = mtbench_temporal_consistency(np.stack([e0, e1, e1]))
    assert (first, prev) == pytest.approx((1 / 3, 2 / 3)) and value == pytest.approx(0.5)
    assert mtbench_temporal_consistency(np.stack([e0, -e0]))[0] == pytest.approx(0.0)  # no clamping at 0


def _score(video):
    case = MotionTransferCase("c", InlineVideo(video), "t")
    return DinoTemporalConsistency()(case, Generation((video,)), FeatureContext())


def test_equals_the_released_calculate_dino_on_random_clips():
    fixture = json.loads(RELEASED.read_text())
    assert fixture["reference"].startswith("Shi-qingyu/DeT@2a2f4dd")
    differences = []
    for spec, released in zip(CLIPS, fixture["clips"]):
        result = _score(Video(clip_frames(spec), fps=8.0))
        assert result.details["pooler"] == "checkpoint"
        differences.append(abs(result.value - released["tc"]))
    assert max(differences) < 1e-5, differences  # measured: docs/metrics/fidelity.md


def test_a_checkpoint_without_pooler_weights_gets_a_seeded_pooler_and_says_so(tiny_models, tmp_path, monkeypatch):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    snap = tiny_models["facebook/dino-vitb16"]
    hub = tmp_path / "hf" / "hub" / "models--facebook--dino-vitb16"
    shutil.copytree(snap.parents[1], hub, symlinks=False)
    target = hub / "snapshots" / snap.name / "model.safetensors"
    weights = {k: v for k, v in load_file(str(target)).items() if not k.startswith("pooler.")}
    save_file(weights, str(target))  # as transformers' DINO conversion saved it
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(base, "_LOADED", {})
    video = Video(clip_frames(CLIPS[0]), fps=8.0)
    a, b = _score(video), _score(video)
    assert "random" in a.details["pooler"] and "pooler_seed=0" in a.details["pooler"]
    assert a.value == b.value
    case = MotionTransferCase("c", InlineVideo(video), "t")
    other = DinoTemporalConsistency(pooler_seed=1)(case, Generation((video,)), FeatureContext())
    assert other.value != a.value and "pooler_seed=1" in other.details["pooler"]
    assert torch.is_tensor(base.load_backend("dino-vitb16-hf").model.pooler.dense.weight)
