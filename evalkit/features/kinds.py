"""What kinds of feature backends provide beyond ``FeatureBackend``, as Protocols.

The registry gives back a ``FeatureBackend``; a helper that loads a backend by name for one
of these abilities (evalkit.features.shared, a metric) casts it to the Protocol, so the type
checker knows the methods it calls.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from ..video import Video


class FrameEmbedder(Protocol):
    """Embeds frames (features/embedding.py's EmbeddingBackend)."""
    def embed(self, frames: Any) -> np.ndarray: ...
    def embed_videos(self, clips: Sequence[Any]) -> list[np.ndarray]: ...


class TextEmbedder(Protocol):
    """Embeds prompts (CLIP-like backends)."""
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class ImageEmbedder(Protocol):
    """Embeds still images (reference images of personalization cases)."""
    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


class FrameScorer(Protocol):
    """Scores every frame (MUSIQ)."""
    def score(self, frames: np.ndarray) -> np.ndarray: ...


class LogitScaled(Protocol):
    """Exposes its learned, exponentiated temperature (PickScore)."""
    logit_scale: float


class PointTracker(Protocol):
    """Tracks points through videos (features/tracking.py's TrackerBackend)."""
    def track(self, videos: Sequence[Video], **options: Any) -> list[Any]: ...


class VideoFeaturizer(Protocol):
    """One feature vector per video from its first ``frames`` frames (FVD's I3D / VideoMAE)."""
    def features(self, videos: Sequence[Video], frames: int) -> list[np.ndarray]: ...
