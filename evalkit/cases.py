"""Cases (immutable evaluation items) and Generations (what a generator returns).

Every case has a stable content hash: the hash of its fields, where video and image
sources contribute the digest of their bytes (not their path), so moving a dataset does
not invalidate a cache and editing a frame does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Mapping, Protocol, runtime_checkable

import numpy as np

from .case_ids import check_case_id
from .errors import InvalidInputError
from .hashing import file_digest, stable_hash
from .video import Video, read_masks, read_video

SCHEMA_VERSION = 1


@runtime_checkable
class VideoSource(Protocol):
    def load(self) -> Video: ...
    def fingerprint(self) -> str: ...


@lru_cache(maxsize=4096)
def _digest_cached(path: str, mtime_ns: int, size: int) -> str:
    return file_digest(Path(path))


def path_digest(path: str | os.PathLike) -> str:
    """Digest of a file or folder's bytes, memoised on (path, mtime, size)."""
    p = Path(path)
    if not p.exists():
        return f"missing:{p}"
    st = p.stat()
    return _digest_cached(str(p.resolve()), st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class FrameRange:
    start: int = 0
    end: int | None = None  # exclusive, Python slice semantics
    step: int = 1

    def apply(self, video: Video) -> Video:
        return video.subsample(self.start, self.end, self.step)

    def apply_masks(self, masks: np.ndarray) -> np.ndarray:
        return masks[self.start:self.end:self.step]


@dataclass(frozen=True)
class FileVideo:
    """A video on disk (mp4 or frame folder), optionally restricted to a frame range."""
    path: Path
    frame_range: FrameRange | None = None
    fps: float | None = None  # frame folders only

    def load(self) -> Video:
        video = read_video(self.path, fps=self.fps)
        return self.frame_range.apply(video) if self.frame_range else video

    def fingerprint(self) -> str:
        return stable_hash(path_digest(self.path), self.frame_range, self.fps)


@dataclass(frozen=True)
class InlineVideo:
    """A video held in memory (tests, direct scoring)."""
    video: Video

    def load(self) -> Video:
        return self.video

    def fingerprint(self) -> str:
        return self.video.fingerprint()


@dataclass(frozen=True)
class FileMasks:
    """Binary subject masks on disk (a DAVIS ``Annotations`` folder or one image)."""
    path: Path
    frame_range: FrameRange | None = None

    def load(self) -> np.ndarray:
        masks = read_masks(self.path)
        return self.frame_range.apply_masks(masks) if self.frame_range else masks

    def fingerprint(self) -> str:
        return stable_hash(path_digest(self.path), self.frame_range)


@dataclass(frozen=True)
class ImageFiles:
    """Reference images of a subject (DreamBooth)."""
    paths: tuple[Path, ...]

    def load(self) -> list[np.ndarray]:
        from PIL import Image

        images = []
        for p in self.paths:
            try:
                with Image.open(p) as im:
                    images.append(np.asarray(im.convert("RGB")))
            except OSError as exc:
                raise InvalidInputError(f"{p}: unreadable reference image ({exc})") from None
        return images

    def fingerprint(self) -> str:
        return stable_hash([path_digest(p) for p in self.paths])


class Case:
    """Mixin: every case kind has an id, a kind name and a content hash."""
    kind: ClassVar[str]
    case_id: str

    def __post_init__(self) -> None:
        # an id names files (exports, submissions): '..' or an absolute id would leave the folder
        check_case_id(self.case_id)

    def content_hash(self) -> str:
        return stable_hash(SCHEMA_VERSION, self.kind, self)


@dataclass(frozen=True, eq=False)
class MotionTransferCase(Case):
    """Transfer the motion of ``source`` to a video of ``target_prompt``."""
    kind: ClassVar[str] = "motion-transfer"
    case_id: str
    source: VideoSource
    target_prompt: str
    source_prompt: str = ""
    subject: str = ""          # subject words of the target prompt (e.g. "a skateboard")
    source_subject: str = ""   # subject words of the source (e.g. "a car")
    category: str = ""         # caption/subject/scene, same-subject/different-subject, synthetic motion type
    source_mask: Any = None    # FileMasks-like: .load() -> (T, H, W) bool
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class MultiShotCase(Case):
    """N shots sharing one subject (Motion by Queries App. B.12)."""
    kind: ClassVar[str] = "multi-shot"
    case_id: str
    subject: str                 # text given to CLIPSeg, e.g. "a girl"
    prompts: tuple[str, ...]     # one per shot
    category: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class PersonalizationCase(Case):
    """Generate ``prompt`` featuring a subject known from reference images (DreamBooth)."""
    kind: ClassVar[str] = "personalization"
    case_id: str
    subject_name: str
    class_noun: str
    prompt: str
    reference_images: ImageFiles
    subject_token: str = "sks"
    category: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


CASE_KINDS = {c.kind: c for c in (MotionTransferCase, MultiShotCase, PersonalizationCase)}


@dataclass(frozen=True)
class StageTimings:
    """Wall seconds per stage, as in Motion by Queries Table 2 (CUDA-synchronised on GPU)."""
    inversion: float = 0.0
    optimization: float = 0.0
    inference: float = 0.0

    @property
    def total(self) -> float:
        return self.inversion + self.optimization + self.inference


@dataclass(frozen=True, eq=False)
class Generation:
    videos: tuple[Video, ...]
    timings: StageTimings = StageTimings()
    peak_memory_bytes: int = 0
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.videos:
            raise InvalidInputError("a generation must hold at least one video")

    @property
    def video(self) -> Video:
        if len(self.videos) != 1:
            raise InvalidInputError(f"expected one video, generation holds {len(self.videos)} (a multi-shot set?)")
        return self.videos[0]

    def fingerprint(self) -> str:
        return stable_hash([v.fingerprint() for v in self.videos])
