"""Multi-shot sets: per-video metrics give one value per shot in details["per_video"]
(shot order) and the set's value is their mean; dynamic degree decides per shot."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, MultiShotCase
from evalkit.errors import EvalkitError
from evalkit.features.base import FeatureContext
from evalkit.metrics.base import Metric, MetricResult, MetricSpec
from evalkit.registry import GENERATORS, METRICS
from evalkit.synthetic import SyntheticSpec, render

#: per-video metrics scored here with weight-free backends or tiny random real models (the
#: others pin details["per_video"] in their own tests; Metric.__call__ checks it for all)
CHEAP = {"temporal-flicker": {}, "dynamic-degree": {"backend": "dis"}, "clip-text": {}, "clip-score": {},
         "clip-temporal-consistency": {}, "background-consistency": {}, "subject-consistency": {}}


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["openai/clip-vit-base-patch32", "facebook/dino-vitb16"])


def shot(motion: str, seed: int = 0):
    return render(SyntheticSpec(motion, seed=seed, num_frames=8, height=64, width=80)).video


def test_only_set_level_metrics_are_not_per_video():
    assert {n for n, cls in METRICS.items() if not cls.spec.per_video} == {"set-consistency", "runtime"}
    assert set(CHEAP) <= {n for n, cls in METRICS.items() if "multi-shot" in cls.spec.case_kinds}


def test_a_per_video_metric_without_per_shot_values_fails_the_item():
    class ForgetsShots(Metric):
        spec = MetricSpec(name="forgets-shots", higher_is_better=True, value_range=(0.0, 1.0),
                          case_kinds=("multi-shot",), reference="tests")

        def compute(self, case, generation, ctx):
            return MetricResult(1.0)

    case, gen = MultiShotCase("set", "a disc", ("a", "b")), Generation((shot("fast"), shot("static")))
    with pytest.raises(EvalkitError, match="one value per shot"):
        ForgetsShots()(case, gen, FeatureContext())


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
    case = MultiShotCase("set", "s", ("a", "b"))
    # without vbench_compat a 1-frame shot is an error (with it, VBench's False: issue 20)
    with pytest.raises(InvalidInputError, match="set shot 1"):
        METRICS.get("dynamic-degree")(backend="dis", vbench_compat=False)(
            case, Generation((shot("fast"), one_frame)), FeatureContext())
    res = METRICS.get("dynamic-degree")(backend="dis")(case, Generation((shot("fast"), one_frame)), FeatureContext())
    assert res.details["per_video"] == [1.0, 0.0]
