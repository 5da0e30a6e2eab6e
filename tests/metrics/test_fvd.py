"""fvd: content-debiased FVD over sets (cd-fvd's statistics and distance; random-weight I3D of
the real architecture for the backend path)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cdfvd")

from evalkit.cases import Generation, InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.errors import InvalidInputError, MissingWeightsError  # noqa: E402
from evalkit.features import base  # noqa: E402
from evalkit.features.base import FeatureContext  # noqa: E402
from evalkit.metrics.fvd import FVD, decode, encode, frechet_distance  # noqa: E402
from evalkit.registry import METRICS  # noqa: E402
from evalkit.report.aggregate import aggregate  # noqa: E402
from evalkit.synthetic import SyntheticSpec, render  # noqa: E402
from evalkit.video import Video  # noqa: E402


def test_known_answers_identical_sets_zero_and_a_mean_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-4)
    shift = np.float32([3, 0, 0, 4, 0, 0])
    # same covariance, means 5 apart: FVD = |Δμ|² = 25 (the trace term vanishes)
    assert frechet_distance(x + shift, x) == pytest.approx(25.0, abs=1e-3)
    # covariance scaled by 4 (std ×2), same mean: tr(Σ + 4Σ − 2·2Σ) = tr(Σ), Σ over n as cd-fvd
    centred = x - x.mean(0)
    sigma = centred.T.astype(np.float64) @ centred / len(x)
    assert frechet_distance(2 * centred, centred) == pytest.approx(np.trace(sigma), rel=1e-4)


def _details(generated, source, key):
    return {"set_features": {"generated": encode(generated), "source": encode(source), "source_key": key}}


def test_set_value_counts_every_generated_video_and_each_source_once():
    rng = np.random.default_rng(1)
    sources = rng.normal(size=(3, 5)).astype(np.float32)
    details = [_details(sources[i % 3] + 0.1 * rng.normal(size=5), sources[i % 3], f"s{i % 3}") for i in range(6)]
    stat = FVD.set_value(details)
    assert (stat["generated"], stat["reference"]) == (6, 3)
    generated = np.stack([decode(d["set_features"]["generated"]) for d in details])
    assert stat["value"] == pytest.approx(frechet_distance(generated, sources))
    with pytest.raises(InvalidInputError, match="at least two generated videos and two distinct sources"):
        FVD.set_value(details[:1])
    assert np.array_equal(decode(encode(sources[0])), sources[0])


def test_aggregate_reports_the_set_value_per_generator_with_its_sample_size():
    rng = np.random.default_rng(2)
    sources = rng.normal(size=(4, 5)).astype(np.float32)
    rows = []
    for gen, noise in (("copy", 0.0), ("noisy", 1.0)):
        for i in range(4):
            g = sources[i] + noise * rng.normal(size=5).astype(np.float32)
            rows.append({"generator": gen, "case_id": f"c{i}", "seed": 0, "metric": "fvd[i3d-fvd]",
                         "metric_name": "fvd", "status": "ok", "value": float(((g - sources[i]) ** 2).sum()),
                         "details": _details(g, sources[i], f"s{i}"), "case_kind": "motion-transfer"})
    rows.append({**rows[-1], "case_id": "c9", "status": "failed", "value": np.nan, "details": None})
    agg = aggregate(pd.DataFrame(rows)).set_index("generator")
    assert agg.loc["copy", "mean"] == pytest.approx(0.0, abs=1e-4)
    assert agg.loc["noisy", "mean"] == pytest.approx(FVD.set_value([r["details"] for r in rows[4:8]])["value"])
    assert agg.loc["noisy", "n"] == 4 and agg.loc["noisy", "unit"] == "videos" and agg.loc["noisy", "n_failed"] == 1
    assert np.isnan(agg.loc["noisy", "sem"])
    from evalkit.report.tables import format_cell
    assert format_cell(12.34, float("nan"), 1, n=4) == "12.3 (n=4)"


def test_missing_weights_name_the_checkpoint_and_where_evalkit_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "_LOADED", {})
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for backend, filename in (("i3d-fvd", "i3d_pretrained_400.pt"),
                              ("videomae-fvd", "vit_g_hybrid_pt_1200e_ssv2_ft.pth")):
        with pytest.raises(MissingWeightsError, match=f"{filename}.*not found offline; looked in: .*hub/checkpoints"):
            base.load_backend(backend)
    assert "fvd" in METRICS and FVD.spec.set_level and FVD.spec.backends[0] == "videomae-fvd"


@pytest.fixture()
def random_i3d(tmp_path, monkeypatch):
    """cd-fvd's InceptionI3d(400) with random weights, saved where evalkit looks for the checkpoint."""
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    from cdfvd.third_party.i3d import pytorch_i3d

    monkeypatch.setattr(base, "_LOADED", {})
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(pytorch_i3d.InceptionI3d(400, in_channels=3).state_dict(),
               tmp_path / "torch" / "hub" / "checkpoints" / "i3d_pretrained_400.pt")


@pytest.mark.slow
def test_i3d_backend_identical_sets_zero_a_permuted_set_zero_noise_not(random_i3d):
    import torch
    from cdfvd.third_party.i3d.utils import preprocess_i3d

    metric = METRICS.get("fvd")(backend="i3d-fvd")
    ctx = FeatureContext()
    sources = [render(SyntheticSpec(m, num_frames=16, height=64, width=80)).video
               for m in ("pan", "rotation", "scaling")]
    cases = [MotionTransferCase(f"c{i}", InlineVideo(v), "t") for i, v in enumerate(sources)]
    copies = [metric(c, Generation((v,)), ctx) for c, v in zip(cases, sources)]
    # each case given another case's source: every pair differs, the set is the same
    permuted = [metric(c, Generation((sources[(i + 1) % 3],)), ctx) for i, c in enumerate(cases)]
    rng = np.random.default_rng(0)
    noise = [metric(c, Generation((Video(rng.integers(0, 256, (16, 64, 80, 3), dtype=np.uint8), 8.0),)), ctx)
             for c in cases]
    assert all(r.value == 0.0 for r in copies) and all(r.details["feature_dim"] == 400 for r in copies)
    assert all(r.value > 0 for r in permuted)
    fvd = {name: FVD.set_value([r.details for r in results])["value"]
           for name, results in (("copy", copies), ("permuted", permuted), ("noise", noise))}
    assert abs(fvd["copy"]) < 1e-3 * fvd["noise"] and abs(fvd["permuted"]) < 1e-3 * fvd["noise"]
    # the feature is cd-fvd's: its preprocessing and the I3D logits of the first 16 frames
    model = base.load_backend("i3d-fvd").model
    with torch.no_grad():
        expected = model(preprocess_i3d(np.array(sources[0].frames)[None])).double().numpy()[0]
    assert np.allclose(decode(copies[0].details["set_features"]["source"]), expected, atol=1e-6)
    with pytest.raises(InvalidInputError, match="first 16 frames; the generated video has 8"):
        metric(cases[0], Generation((sources[0].truncate(8),)), ctx)
