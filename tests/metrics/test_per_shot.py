"""Multi-shot sets: per-video metrics give one value per shot in details["per_video"]
(shot order) and the set's value is their mean; dynamic degree decides per shot."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.cases import Generation, MultiShotCase
from evalkit.features.base import FeatureContext
from evalkit.registry import GENERATORS, METRICS
from evalkit.synthetic import SyntheticSpec, render

#: metrics defined on a set of shots as a whole, not per video
SET_LEVEL = {"set-consistency", "runtime"}
#: per-video metrics scored here with weight-free backends or tiny random real models
CHEAP = {"temporal-flicker": {}, "dynamic-degree": {"backend": "dis"}, "clip-text": {}, "clip-score": {},
         "clip-temporal-consistency": {}, "background-consistency": {}, "subject-consistency": {}}
#: the rest of the per-video metrics pin details["per_video"] in their own test files
OWN_TESTS = {"aesthetic-quality", "imaging-quality", "pickscore"}


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["openai/clip-vit-base-patch32", "facebook/dino-vitb16"])


def shot(motion: str, seed: int = 0):
    return render(SyntheticSpec(motion, seed=seed, num_frames=8, height=64, width=80)).video


def test_every_multi_shot_metric_is_covered_here_or_in_its_own_tests():
    multi = {n for n, cls in METRICS.items() if "multi-shot" in cls.spec.case_kinds}
    assert multi - SET_LEVEL == set(CHEAP) | OWN_TESTS


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_per_video_values_are_the_shots_scored_alone(name):
    metric = METRICS.get(name)(**CHEAP[name])
    shots = (shot("fast"), shot("static", 1), shot("translation", 2))
    prompts = ("a red disc circles", "a still scene", "a disc slides")
    ctx = FeatureContext()
    whole = metric(MultiShotCase("set", "a disc", prompts), Generation(shots), ctx)
    alone = [metric(MultiShotCase(f"set-{i}", "a disc", (p,)), Generation((v,)), ctx)
             for i, (v, p) in enumerate(zip(shots, prompts))]
    assert whole.details["per_video"] == pytest.approx([r.value for r in alone], abs=1e-6)
    assert whole.value == pytest.approx(np.mean(whole.details["per_video"]), abs=1e-9)
    assert all(r.details["per_video"] == pytest.approx([r.value]) for r in alone)   # one-shot sets too


def test_dynamic_degree_is_the_fraction_of_dynamic_shots():
    metric = METRICS.get("dynamic-degree")(backend="dis")
    case = MultiShotCase("set", "a disc", ("a", "b", "c"))
    res = metric(case, Generation((shot("fast"), shot("static"), shot("fast", 3))), FeatureContext())
    assert res.details["per_video"] == [1.0, 0.0, 1.0] and res.value == pytest.approx(2 / 3)
    assert [len(s["pair_scores"]) for s in res.details["shots"]] == [7, 7, 7]


@pytest.mark.parametrize(("motion", "expected"), [("fast", 1.0), ("static", 0.0)])
def test_dynamic_degree_on_the_synthetic_shots_reference_generator(motion, expected):
    case = MultiShotCase("story", "a disc", ("shot one", "shot two", "shot three"))
    generation = GENERATORS.get("synthetic-shots")(motion=motion, same_subject=False)(case, 0)
    res = METRICS.get("dynamic-degree")(backend="dis")(case, generation, FeatureContext())
    assert res.value == expected and res.details["per_video"] == [expected] * 3


def test_a_bad_shot_is_named():
    from evalkit.errors import InvalidInputError
    from evalkit.video import Video

    one_frame = Video(np.zeros((1, 64, 80, 3), np.uint8), 8.0)
    with pytest.raises(InvalidInputError, match="set shot 1"):
        METRICS.get("dynamic-degree")(backend="dis")(MultiShotCase("set", "s", ("a", "b")),
                                                     Generation((shot("fast"), one_frame)), FeatureContext())
