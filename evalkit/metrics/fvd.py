"""Fréchet Video Distance, content-debiased (Ge et al. 2024, "On the Content Bias in Fréchet
Video Distance"; cd-fvd 0.1.1): the distance between the feature distributions of a
generator's videos and of the sources, the first metric that compares sets, not pairs.

FVD = |μ_s − μ_g|² + tr(Σ_s + Σ_g − 2 (Σ_s Σ_g)^½) (Unterthiner et al. 2018), over
``videomae-fvd`` features (default; VideoMAE-v2 fine-tuned on SSv2, which the paper shows
weighs motion over per-frame content) or ``i3d-fvd`` (classic FVD, which favours per-frame
quality), of each video's first ``frames`` frames. Mean and covariance as cd-fvd's
``FeatureStats`` (float32 features accumulated in float64, covariance over n, not n − 1) and
the distance by cd-fvd's own ``compute_fvd_from_stats`` (scipy ``sqrtm``, real part).

A set-level metric (``MetricSpec.set_level``; docs/architecture.md "Set-level metrics"): each
item computes the features of its generated video and of its source and records them in
``details["set_features"]`` (float32, base64); its item value is the squared feature distance
to its own source. The column's value is ``set_value`` over every successful item of a
generator (report layer, ``evalkit.report.aggregate``): the generated videos (every case and
seed) against the distinct sources, with both sample sizes.
"""
from __future__ import annotations

import base64
import math
from typing import cast

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError
from ..features.base import FeatureContext
from ..features.kinds import VideoFeaturizer
from ..registry import METRICS
from ..video import Video
from .base import Metric, MetricResult, MetricSpec


def encode(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), "<f4")


def frechet_distance(generated: np.ndarray, reference: np.ndarray) -> float:
    """FVD between (n, D) generated and (m, D) reference features, with cd-fvd's statistics and
    formula (its ``FeatureStats`` and ``cdfvd.compute_fvd_from_stats``)."""
    from ..compat import ensure_torchvision

    ensure_torchvision()
    from cdfvd.fvd import cdfvd
    from cdfvd.utils.metric_utils import FeatureStats

    def stats(features):
        s = FeatureStats(capture_mean_cov=True)
        s.append(np.asarray(features, np.float32))
        return s
    # an unbound call: with both statistics given, compute_fvd_from_stats reads nothing of self
    return float(cdfvd.compute_fvd_from_stats(None, stats(generated), stats(reference)))


@METRICS.register()
class FVD(Metric):
    spec = MetricSpec(
        name="fvd", measures="quality", higher_is_better=False, value_range=(0.0, math.inf),
        case_kinds=("motion-transfer",), inputs=("generated", "source"), set_level=True,
        reference="Ge et al. 2024 (content-debiased FVD), cd-fvd 0.1.1 (songweige/content-debiased-fvd); "
                  "Unterthiner et al. 2018 (FVD)",
        backends=("videomae-fvd", "i3d-fvd"))
    defaults = {"frames": 16}
    bounds = {"frames": (10, 4096)}  # I3D's temporal pooling needs ≥ 10 frames; VideoMAE was trained on 16

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        frames = int(self.options["frames"])
        model = ctx.backend(self.model_backend)
        featurize = cast(VideoFeaturizer, model).features
        source = ctx.source_video(case)
        pair = []
        for role, video in (("generated", generation.video), ("source", source)):
            if video.num_frames < frames:
                raise InvalidInputError(f"{case.case_id}: fvd uses the first {frames} frames; the {role} video "
                                        f"has {video.num_frames}")
            def single(v: Video = video) -> np.ndarray:   # bound now: the context may call it later
                return featurize([v], frames)[0]

            pair.append(ctx.features(model, video, f"fvd:first{frames}", single,
                                     batch=lambda videos: featurize(videos, frames)))
        generated, reference = (np.asarray(f, np.float32) for f in pair)
        return MetricResult(float(((generated.astype(np.float64) - reference) ** 2).sum()), {
            "frames": frames, "feature_dim": int(generated.size),
            "set_features": {"generated": encode(generated), "source": encode(reference),
                             "source_key": source.fingerprint()},
            "backend_weights": model.weights_id})

    @classmethod
    def set_value(cls, details: list[dict]) -> dict:
        """The FVD of one generator's items (their ``details``), with its sample sizes."""
        records = [d["set_features"] for d in details if isinstance(d, dict) and "set_features" in d]
        generated = [decode(r["generated"]) for r in records]
        sources = {r["source_key"]: decode(r["source"]) for r in records}
        if len(generated) < 2 or len(sources) < 2:
            raise InvalidInputError(f"fvd needs at least two generated videos and two distinct sources "
                                    f"(got {len(generated)} and {len(sources)})")
        return {"value": frechet_distance(np.stack(generated), np.stack(list(sources.values()))),
                "generated": len(generated), "reference": len(sources)}
