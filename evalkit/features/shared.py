"""Memoised per-video embeddings: one forward pass per (video, backend identity) per run."""
from __future__ import annotations

from typing import Any, Sequence, cast

import numpy as np

from ..cases import Case
from ..errors import InvalidInputError
from ..video import Video
from .base import FeatureBackend, FeatureContext
from .kinds import FrameEmbedder, ImageEmbedder, PointTracker, TextEmbedder


def backend(ctx: FeatureContext, name: str, dtype: str | None = None, **options: Any) -> FeatureBackend:
    return ctx.backend(name, dtype=dtype, **options)


def frame_embeddings(ctx: FeatureContext, backend_name: str, video: Video, dtype: str | None = None,
                     **options: Any) -> np.ndarray:
    """(T, D) unit vectors of every frame of ``video``, shared by all metrics of the run
    (and batched with other videos' frames when the runner collects a window of items)."""
    model = backend(ctx, backend_name, dtype, **options)
    embedder = cast(FrameEmbedder, model)
    return ctx.features(model, video, "embed", lambda: embedder.embed(ctx.frames_for(model, video)),
                        batch=lambda videos: embedder.embed_videos([ctx.frames_for(model, v) for v in videos]))


def video_tracks(ctx: FeatureContext, tracker: FeatureBackend, video: Video, what: str, **track_args: Any):
    """``tracker.track`` of ``video`` memoised as feature ``what`` (batched across videos)."""
    points = cast(PointTracker, tracker)

    def batch(videos: list[Video]):
        if getattr(tracker, "takes_device_frames", False):
            return points.track(videos, frames=[ctx.device_frames(v) for v in videos], **track_args)
        return points.track(videos, **track_args)
    return ctx.features(tracker, video, what, lambda: batch([video])[0], batch=batch)


def text_embeddings(ctx: FeatureContext, backend_name: str, texts: Sequence[str], dtype: str | None = None,
                    **options: Any) -> np.ndarray:
    model = backend(ctx, backend_name, dtype, **options)
    embedder = cast(TextEmbedder, model)
    return ctx.cached(("text", model.identity, tuple(texts)), lambda: embedder.embed_texts(list(texts)))


def reference_embeddings(ctx: FeatureContext, backend_name: str, case: Case, dtype: str | None = None,
                         **options: Any) -> np.ndarray:
    """(R, D) unit vectors of a PersonalizationCase's reference images."""
    refs = getattr(case, "reference_images", None)
    if refs is None or not getattr(refs, "paths", ()):
        raise InvalidInputError(f"{case.case_id}: case has no reference images")
    model = backend(ctx, backend_name, dtype, **options)
    return ctx.cached(("refs", refs.fingerprint(), model.identity),
                      lambda: cast(ImageEmbedder, model).embed_images(refs.load()))


def require_frames(video: Video, n: int, metric: str, what: str = "") -> None:
    if video.num_frames < n:
        raise InvalidInputError(f"{video.origin}: {metric} needs at least {n} frames{what}, "
                                f"the video has {video.num_frames}")
