"""Memoised per-video embeddings: one forward pass per (video, backend identity) per run."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..cases import Case
from ..errors import InvalidInputError
from ..video import Video
from .base import FeatureBackend, FeatureContext


def backend(ctx: FeatureContext, name: str, **options: Any) -> FeatureBackend:
    return ctx.backend(name, **options)


def frame_embeddings(ctx: FeatureContext, backend_name: str, video: Video, **options: Any) -> np.ndarray:
    """(T, D) unit vectors of every frame of ``video``, shared by all metrics of the run."""
    model = backend(ctx, backend_name, **options)
    return ctx.features(model, video, "embed", lambda: model.embed(video.frames))


def text_embeddings(ctx: FeatureContext, backend_name: str, texts: Sequence[str], **options: Any) -> np.ndarray:
    model = backend(ctx, backend_name, **options)
    return ctx.cached(("text", model.identity, tuple(texts)), lambda: model.embed_texts(list(texts)))


def reference_embeddings(ctx: FeatureContext, backend_name: str, case: Case, **options: Any) -> np.ndarray:
    """(R, D) unit vectors of a PersonalizationCase's reference images."""
    refs = getattr(case, "reference_images", None)
    if refs is None or not getattr(refs, "paths", ()):
        raise InvalidInputError(f"{case.case_id}: case has no reference images")
    model = backend(ctx, backend_name, **options)
    return ctx.cached(("refs", refs.fingerprint(), model.identity),
                      lambda: model.embed_images(refs.load()))


def require_frames(video: Video, n: int, metric: str, what: str = "") -> None:
    if video.num_frames < n:
        raise InvalidInputError(f"{video.origin}: {metric} needs at least {n} frames{what}, "
                                f"the video has {video.num_frames}")
