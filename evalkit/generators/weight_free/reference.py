"""Reference generators: no model, known answers for every metric (design.md, methods.md).

Each one transforms the frames of the case's source video:
``copy`` (unchanged), ``static`` (first frame repeated), ``reverse`` (time-reversed),
``shuffle`` (frames permuted by the seed, never the identity), ``recolor`` (hue rotated:
same motion, different appearance) and ``noise`` (uniform random frames of the same shape).
"""
from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from evalkit.cases import Case, Generation, StageTimings
from evalkit.errors import InvalidInputError
from evalkit.registry import GENERATORS

from ..base import Generator


class FrameTransform(Generator):
    """Shared base: load the source, transform its frames, return them with zero timings."""
    case_kinds: ClassVar[tuple[str, ...]] = ("motion-transfer",)
    weight_free: ClassVar[bool] = True

    def transform(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def generate(self, case: Case, seed: int) -> Generation:
        source = case.source.load()
        frames = self.transform(source.frames, np.random.default_rng(seed))
        video = source if frames is source.frames else source.with_frames(frames, note=self.registry_name)
        return Generation((video,), StageTimings(), extras={"reference": self.registry_name})


@GENERATORS.register("copy")
class Copy(FrameTransform):
    """The source video itself (upper bound for motion fidelity and identity leakage)."""

    def transform(self, frames, rng):
        return frames


@GENERATORS.register("static")
class Static(FrameTransform):
    """The first frame repeated: no motion at all."""

    def transform(self, frames, rng):
        return np.repeat(frames[:1], len(frames), axis=0)


@GENERATORS.register("reverse")
class Reverse(FrameTransform):
    """Time-reversed source: same appearance, opposite motion."""

    def transform(self, frames, rng):
        return frames[::-1]


@GENERATORS.register("shuffle")
class Shuffle(FrameTransform):
    """Frames in a seeded random order (never the original order when there are >= 2)."""

    def transform(self, frames, rng):
        n = len(frames)
        order = np.arange(n)
        while n >= 2 and (order == np.arange(n)).all():
            order = rng.permutation(n)
        return frames[order]


@GENERATORS.register("recolor")
class Recolor(FrameTransform):
    """Hue rotated by ``hue`` degrees: same motion and brightness, different appearance."""
    defaults = {"hue": 120.0}

    def __init__(self, device: str = "cpu", **options) -> None:
        super().__init__(device, **options)
        try:
            self.angle = float(self.options["hue"])
        except (TypeError, ValueError):
            self.angle = float("nan")
        if not np.isfinite(self.angle):
            raise InvalidInputError(
                f"recolor: option hue must be a finite number of degrees, got {self.options['hue']!r}")

    def transform(self, frames, rng):
        t, h, w, _ = frames.shape
        # float32 HSV keeps hue in degrees [0, 360) (uint8 HSV would quantise it to 2 degrees)
        rgb = frames.reshape(t * h, w, 3).astype(np.float32) / 255.0
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = np.mod(hsv[..., 0] + self.angle, 360.0)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8).reshape(frames.shape)


@GENERATORS.register("noise")
class Noise(FrameTransform):
    """Uniform random uint8 frames of the source's shape (lower bound for everything)."""

    def transform(self, frames, rng):
        return rng.integers(0, 256, size=frames.shape, dtype=np.uint8)
