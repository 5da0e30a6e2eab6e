"""Explicit, recorded conversions of a source video to a model's frame count and size.

A transform is a small frozen dataclass with a spec string (``repeat:2:1``,
``crop-resize:480x832``) that is parsed back by :func:`parse_transform`. Datasets wrap a
source in :class:`TransformedVideo` (and its masks in :class:`TransformedMasks`), so the
conversion happens on load, enters the case hash through the source's fingerprint, and is
listed in the case's ``meta["transforms"]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

import cv2
import numpy as np

from ..errors import InvalidInputError
from ..frame_repeat import repeat_frames, repeat_indices, repeat_note
from ..hashing import stable_hash
from ..video import Video


class Transform(Protocol):
    def spec(self) -> str: ...
    def apply(self, video: Video) -> Video: ...
    def apply_masks(self, masks: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class RepeatFrames:
    """Repeat each frame ``repeat`` times, then the last frame ``pad_last`` more times; fps × repeat.

    The rule of Motion by Queries App. A.1.1 (``wan-frames`` = (2, 1): 16→33, 24→49), implemented
    once in :mod:`evalkit.frame_repeat` and shared with the generators' own
    ``source_frame_repeat``; a clip is repeated at most once (a second application is an error).
    """
    repeat: int = 2
    pad_last: int = 1

    def __post_init__(self) -> None:
        repeat_indices(1, self.repeat, self.pad_last)  # validates

    def spec(self) -> str:
        return repeat_note(self.repeat, self.pad_last)

    def apply(self, video: Video) -> Video:
        return repeat_frames(video, self.repeat, self.pad_last)

    def apply_masks(self, masks: np.ndarray) -> np.ndarray:
        return masks[repeat_indices(len(masks), self.repeat, self.pad_last)]


@dataclass(frozen=True)
class ResampleFrames:
    """Pick ``num_frames`` frames at evenly spaced positions (nearest frame; repeats when
    upsampling). fps scales so the duration is kept."""
    num_frames: int

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise InvalidInputError(f"frames:{self.num_frames}: frame count must be >= 1")

    def spec(self) -> str:
        return f"frames:{self.num_frames}"

    def indices(self, n: int) -> np.ndarray:
        if self.num_frames == 1:
            return np.zeros(1, dtype=int)
        return np.rint(np.linspace(0, n - 1, self.num_frames)).astype(int)

    def apply(self, video: Video) -> Video:
        frames = video.frames[self.indices(video.num_frames)]
        return video.with_frames(frames, fps=video.fps * self.num_frames / video.num_frames, note=self.spec())

    def apply_masks(self, masks: np.ndarray) -> np.ndarray:
        return masks[self.indices(len(masks))]


@dataclass(frozen=True)
class Resize:
    """Resize to ``height``×``width`` (aspect ratio not kept)."""
    height: int
    width: int

    def spec(self) -> str:
        return f"resize:{self.height}x{self.width}"

    def apply(self, video: Video) -> Video:
        return video.resize(self.height, self.width)

    def apply_masks(self, masks: np.ndarray) -> np.ndarray:
        return _resize_masks(masks, self.height, self.width)


@dataclass(frozen=True)
class CenterCropResize:
    """Centre-crop to the target aspect ratio, then resize (no distortion). DAVIS 854×480 →
    Wan 832×480 or CogVideoX 720×480."""
    height: int
    width: int

    def spec(self) -> str:
        return f"crop-resize:{self.height}x{self.width}"

    def _box(self, h: int, w: int) -> tuple[int, int, int, int]:
        target = self.width / self.height
        if w / h > target:  # too wide: crop width
            cw = max(1, round(h * target))
            x0 = (w - cw) // 2
            return 0, h, x0, x0 + cw
        ch = max(1, round(w / target))
        y0 = (h - ch) // 2
        return y0, y0 + ch, 0, w

    def apply(self, video: Video) -> Video:
        y0, y1, x0, x1 = self._box(video.height, video.width)
        cropped = video.with_frames(video.frames[:, y0:y1, x0:x1], note=f"crop{y0}:{y1},{x0}:{x1}")
        return cropped.resize(self.height, self.width)

    def apply_masks(self, masks: np.ndarray) -> np.ndarray:
        y0, y1, x0, x1 = self._box(masks.shape[1], masks.shape[2])
        return _resize_masks(masks[:, y0:y1, x0:x1], self.height, self.width)


def _resize_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    if masks.shape[1:] == (height, width):
        return masks
    # nearest keeps masks binary
    return np.stack([cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
                     for m in masks])


ALIASES = {
    # MbQ App. A.1.1: 16→33, 24→49 frames for Wan 2.1, fps doubled
    "wan-frames": "repeat:2:1",
}


def _size(arg: str, spec: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in arg.lower().split("x"))
    except ValueError:
        raise InvalidInputError(f"transform {spec!r}: size must be HEIGHTxWIDTH, e.g. 480x832") from None
    if h < 1 or w < 1:
        raise InvalidInputError(f"transform {spec!r}: size must be positive")
    return h, w


def parse_transform(spec: str) -> Transform:
    """``repeat:R:P`` | ``wan-frames`` | ``frames:N`` | ``resize:HxW`` | ``crop-resize:HxW``."""
    text = ALIASES.get(spec.strip(), spec.strip())
    name, _, arg = text.partition(":")
    try:
        if name == "repeat":
            r, _, p = arg.partition(":")
            return RepeatFrames(int(r), int(p or 0))
        if name == "frames":
            return ResampleFrames(int(arg))
    except ValueError:
        raise InvalidInputError(f"transform {spec!r}: arguments must be integers") from None
    if name == "resize":
        return Resize(*_size(arg, spec))
    if name == "crop-resize":
        return CenterCropResize(*_size(arg, spec))
    raise InvalidInputError(f"unknown transform {spec!r} (known: wan-frames, repeat:R:P, frames:N, "
                            "resize:HxW, crop-resize:HxW)")


def parse_transforms(value: Any) -> tuple[Transform, ...]:
    """A list of specs or a string separated by "," or "+" ("" / None = none)."""
    if not value:
        return ()
    # "+" too: run plans (name[key=value,...]) split component options on commas
    items: Iterable = value.replace("+", ",").split(",") if isinstance(value, str) else value
    return tuple(t if not isinstance(t, str) else parse_transform(t) for t in items if t)


def apply_all(video: Video, transforms: Sequence[Transform]) -> Video:
    for t in transforms:
        video = t.apply(video)
    return video


@dataclass(frozen=True)
class TransformedVideo:
    """A VideoSource that applies ``transforms`` (in order) to ``source`` on load."""
    source: Any  # VideoSource
    transforms: tuple[Transform, ...] = ()

    def load(self) -> Video:
        return apply_all(self.source.load(), self.transforms)

    def fingerprint(self) -> str:
        return stable_hash(self.source.fingerprint(), [t.spec() for t in self.transforms])

    @property
    def path(self):  # the underlying file, for consumers that report where a source lives
        return getattr(self.source, "path", None)


@dataclass(frozen=True)
class TransformedMasks:
    """Masks that follow their video through the same transforms (nearest-neighbour resize)."""
    source: Any  # FileMasks-like
    transforms: tuple[Transform, ...] = ()

    def load(self) -> np.ndarray:
        masks = self.source.load()
        for t in self.transforms:
            masks = t.apply_masks(masks)
        return masks

    def fingerprint(self) -> str:
        return stable_hash(self.source.fingerprint(), [t.spec() for t in self.transforms])

    @property
    def path(self):
        return getattr(self.source, "path", None)
