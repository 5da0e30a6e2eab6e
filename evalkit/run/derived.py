"""Generations made of their source's frames are stored as frame indices, not as copies.

``copy``, ``reverse``, ``static`` and ``shuffle`` (and any generator, or submission, whose
every frame is a frame of the case's source) need no copy of the frames: the artifact holds,
per video, the source's frame indices, and the source's frames are stored once per source
under ``artifacts/sources/<fingerprint>.npy``, shared by every such generation of every run on
the store. Matching is by frame content (a digest per frame), so nothing is assumed about the
generator. Loading rebuilds the frames and checks them against the digest recorded when the
artifact was written: a replaced or damaged source file is an integrity error, never measured.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ..video import Video

SOURCES = "sources"  # folder of shared source frames, inside the artifacts folder


def frame_digests(frames: np.ndarray) -> list[bytes]:
    return [hashlib.blake2b(np.ascontiguousarray(f).data, digest_size=16).digest() for f in frames]


def frame_indices(video: Video, source: Video, source_digests: list[bytes] | None = None) -> np.ndarray | None:
    """Index into ``source``'s frames of each frame of ``video``, or None when one is not there."""
    if video.frames.shape[1:] != source.frames.shape[1:]:
        return None
    where = {d: i for i, d in reversed(list(enumerate(source_digests or frame_digests(source.frames))))}
    found = [where.get(d) for d in frame_digests(video.frames)]
    if any(i is None for i in found):
        return None
    return np.asarray(found, np.int32)


def source_file(folder: Path, source: Video, tmp_prefix: str = ".tmp-") -> Path:
    """The source's frames under ``folder/sources`` (written once, atomically); its path."""
    path = folder / SOURCES / f"{source.fingerprint().replace('@', '_')}.npy"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npy", dir=path.parent, prefix=tmp_prefix)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(source.frames), allow_pickle=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


def rebuild(folder: Path, source_name: str, indices: np.ndarray) -> np.ndarray:
    """The frames of a derived video: its source's frames (memory-mapped) at ``indices``."""
    frames = np.load(folder / SOURCES / source_name, mmap_mode="r", allow_pickle=False)
    if len(indices) and (indices.min() < 0 or indices.max() >= len(frames)):
        raise ValueError(f"frame indices outside the {len(frames)} frames of {source_name}")
    return np.ascontiguousarray(frames[indices])

