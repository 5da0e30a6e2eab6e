"""Aesthetic Quality (VBench; LAION aesthetic predictor v1 on CLIP ViT-L/14).

Per frame: the LAION linear head (768 -> 1) on the L2-normalised CLIP ViT-L/14 image
embedding (VBench's clip_transform preprocessing), divided by 10; mean per video.
The head ``sa_0_4_vit_l_14_linear.pth`` is found via the ``head`` option (a file path),
else ``$EVALKIT_WEIGHTS_DIR/[laion_aesthetic/]sa_0_4_vit_l_14_linear.pth``, else
``$TORCH_HOME/hub/checkpoints/``. It is loaded with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..cases import Case, Generation
from ..errors import InvalidInputError, MissingWeightsError
from ..features.base import FeatureContext
from ..features.shared import frame_embeddings
from ..registry import METRICS
from ..weights import resolve_checkpoint, weights_dirs
from .base import DTYPE_CHOICES, DTYPE_DEFAULT, Metric, MetricResult, MetricSpec, per_video_result

HEAD_FILE = "sa_0_4_vit_l_14_linear.pth"
HEAD_URL = "https://github.com/LAION-AI/aesthetic-predictor/raw/main/sa_0_4_vit_l_14_linear.pth"


def resolve_head(path: str = "") -> Path:
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(f"LAION aesthetic head {p}: no such file")
        return p
    for base in weights_dirs():
        if (base / "laion_aesthetic" / HEAD_FILE).is_file():
            return base / "laion_aesthetic" / HEAD_FILE
    return resolve_checkpoint(HEAD_FILE, model="LAION aesthetic head (VBench)", url=HEAD_URL)


@lru_cache(maxsize=4)
def load_head(path: str) -> tuple[np.ndarray, float]:
    """(weight (D,), bias) of the linear head, as float64 numpy."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        weight, bias = state["weight"], state["bias"]
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise MissingWeightsError(f"{path}: not a LAION aesthetic linear head ({type(exc).__name__}: {exc})") from None
    if weight.ndim != 2 or weight.shape[0] != 1 or bias.numel() != 1:
        raise MissingWeightsError(f"{path}: expected a 1-output linear head, got weight {tuple(weight.shape)}")
    return weight[0].double().numpy(), float(bias.item())


def aesthetic_scores(features: np.ndarray, weight: np.ndarray, bias: float) -> np.ndarray:
    """Per-frame score / 10 from unit CLIP embeddings (T, D)."""
    return (features.astype(np.float64) @ weight + bias) / 10.0  # VBench divides by 10


@METRICS.register()
class AestheticQuality(Metric):
    spec = MetricSpec(
        name="aesthetic-quality", measures="quality", higher_is_better=True, value_range=(0.0, 1.0),
        case_kinds=("motion-transfer", "multi-shot", "personalization"), inputs=("generated",),
        reference="VBench aesthetic_quality.py; LAION-AI/aesthetic-predictor (sa_0_4_vit_l_14_linear)",
        backends=("clip-vit-l14",), report_scale=100.0)
    defaults = {**DTYPE_DEFAULT, "head": ""}
    choices = DTYPE_CHOICES

    @property
    def config(self):
        # the head's identity is its bytes, not where it lies; a missing head is reported by
        # compute (a per-item MissingWeightsError), not while a run is being planned
        from ..cases import path_digest
        try:
            head = path_digest(resolve_head(self.options["head"]))
        except MissingWeightsError:
            head = f"missing:{self.options['head'] or HEAD_FILE}"
        return {**super().config, "head": head}

    @property
    def backend_options(self) -> dict:
        return {"preprocess": "vbench-clip"}

    def compute(self, case: Case, generation: Generation, ctx: FeatureContext) -> MetricResult:
        weight, bias = load_head(str(resolve_head(self.options["head"])))
        scores = []
        for video in generation.videos:
            feats = frame_embeddings(ctx, self.model_backend, video, self.feature_dtype, **self.backend_options)
            if feats.shape[1] != weight.shape[0]:
                raise InvalidInputError(f"aesthetic head expects {weight.shape[0]}-d CLIP features, "
                                        f"{self.backend} gives {feats.shape[1]}")
            scores.append(float(np.mean(aesthetic_scores(feats, weight, bias))))
        return per_video_result(case, scores)
