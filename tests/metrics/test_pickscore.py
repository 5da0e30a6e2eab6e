"""PickScore metric: the reward ``logit_scale.exp() · cos`` per frame, mean over frames; known
answers with injected features, agreement with transformers' own CLIPModel logits on a tiny
random PickScore model, prompts per case kind, features shared through the FeatureContext."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import (
    Generation,
    ImageFiles,
    InlineVideo,
    MotionTransferCase,
    MultiShotCase,
    PersonalizationCase,
)
from evalkit.features.base import FeatureContext
from evalkit.features.shared import backend
from evalkit.metrics.pickscore import PREPROCESS, PickScore, pickscore_per_frame
from evalkit.registry import METRICS
from evalkit.synthetic import SyntheticSpec, render
from evalkit.video import Video


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_pickscore import install_random_pickscore

    install_random_pickscore(tmp_path_factory.getbasetemp() / "hf_home")


VIDEO = render(SyntheticSpec("translation", num_frames=4, height=64, width=80)).video


def test_spec_states_the_facts():
    spec = METRICS.get("pickscore").spec
    assert spec.higher_is_better and spec.report_scale == 1.0  # LMP prints raw (~20)
    assert spec.backends == ("pickscore",)
    assert set(spec.case_kinds) == {"motion-transfer", "multi-shot", "personalization"}


def test_identical_features_give_the_logit_scale():
    f = np.array([[0.6, 0.8], [0.6, 0.8]])
    assert pickscore_per_frame(f, f[0], 100.0) == pytest.approx([100.0, 100.0])


def inject(ctx, video, frames, prompts, texts):
    """Seed the FeatureContext with given embeddings under the keys the metric uses."""
    model = backend(ctx, "pickscore", preprocess=PREPROCESS)
    ctx.features(model, video, "embed", lambda: np.asarray(frames, dtype=np.float32))
    ctx.cached(("text", model.identity, tuple(prompts)), lambda: np.asarray(texts, dtype=np.float32))
    return model.logit_scale


def test_hand_computed_value_is_the_mean_over_frames():
    ctx = FeatureContext()
    case = MotionTransferCase("c", InlineVideo(VIDEO), "a red ball rolling")
    # cosines 1.0, 0.6, 0.0, -0.8 with the text (1, 0): mean 0.2
    frames = [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.8, 0.6]]
    scale = inject(ctx, VIDEO, frames, ["a red ball rolling"], [[1.0, 0.0]])
    result = PickScore()(case, Generation((VIDEO,)), ctx)
    assert result.value == pytest.approx(scale * 0.2, rel=1e-6)
    assert result.details["logit_scale"] == scale
    # the same frames as text: logit_scale · 1
    ctx2 = FeatureContext()
    inject(ctx2, VIDEO, [[0.6, 0.8]] * 4, ["a red ball rolling"], [[0.6, 0.8]])
    assert PickScore()(case, Generation((VIDEO,)), ctx2).value == pytest.approx(scale, rel=1e-6)


def test_matches_clipmodel_logits_per_image():
    """The PickScore reference: ``logit_scale.exp() * image_embs @ text_embs.T`` — transformers'
    own CLIPModel forward computes exactly that as ``logits_per_image``."""
    import torch

    from evalkit.features.hf_loading import tokenize

    ctx = FeatureContext()
    case = MotionTransferCase("c", InlineVideo(VIDEO), "a red ball rolling")
    value = PickScore()(case, Generation((VIDEO,)), ctx).value
    ps = backend(ctx, "pickscore", preprocess=PREPROCESS)
    ids, mask = tokenize(ps.tokenizer, ["a red ball rolling"], "cpu")
    with torch.no_grad():
        out = ps.model(input_ids=ids, attention_mask=mask, pixel_values=ps.preprocess(VIDEO.frames))
    assert value == pytest.approx(out.logits_per_image[:, 0].mean().item(), rel=1e-5, abs=1e-5)
    # a second metric instance reuses the frame and text features (no new forward pass)
    misses = ctx.misses
    PickScore()(case, Generation((VIDEO,)), ctx)
    assert ctx.misses == misses


def test_prompts_per_case_kind():
    ctx = FeatureContext()
    ps = backend(ctx, "pickscore", preprocess=PREPROCESS)

    def manual(video, prompt):
        return float(np.mean(ps.logit_scale * ps.embed(video.frames) @ ps.embed_texts([prompt])[0]))

    shots = (VIDEO, VIDEO.reversed())
    multi = MultiShotCase("m", "a girl", ("a girl runs", "a girl sits"))
    result = PickScore()(multi, Generation(shots), ctx)
    per_video = [manual(VIDEO, "a girl runs"), manual(VIDEO.reversed(), "a girl sits")]
    assert result.details["per_video"] == pytest.approx(per_video, rel=1e-5)
    assert result.value == pytest.approx(np.mean(per_video), rel=1e-5)
    person = PersonalizationCase("p", "dog", "dog", "a sks dog in the snow", ImageFiles(()))
    assert PickScore()(person, Generation((VIDEO,)), ctx).value == pytest.approx(
        manual(VIDEO, "a dog in the snow"), rel=1e-5)


def test_one_frame_video_is_scored():
    ctx = FeatureContext()
    case = MotionTransferCase("c", InlineVideo(VIDEO), "p")
    one = Video(VIDEO.frames[:1])
    assert np.isfinite(PickScore()(case, Generation((one,)), ctx).value)


def test_evalkit_run_smoke(tmp_path):
    from typer.testing import CliRunner

    from evalkit.cli import _load_commands, app
    from evalkit.run.store import ResultsStore

    _load_commands()
    result = CliRunner().invoke(app, ["run", "synthetic[num_frames=3,height=48,width=64]", "--generators", "copy",
                                      "--metrics", "pickscore", "--limit", "1", "--out", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert "pickscore[pickscore]" in result.stdout
    assert "1 metric values computed, 0 cached; 0 failed" in " ".join(result.output.split())
    store = ResultsStore(tmp_path)
    try:
        values = store.results(store.latest_run_id())["value"]
    finally:
        store.close()
    assert len(values) == 1 and np.isfinite(values).all()
