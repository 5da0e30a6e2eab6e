"""Video: uint8 frames (T, H, W, 3) + fps + origin, with mp4 (PyAV) and frame-folder I/O."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InvalidInputError, MissingDataError, VideoReadError
from .hashing import array_digest

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True, eq=False)
class Video:
    frames: np.ndarray  # uint8 (T, H, W, 3), RGB
    fps: float = 8.0
    origin: str = "<memory>"
    _digest: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            raise InvalidInputError(
                f"{self.origin}: frames must be uint8 (T, H, W, 3), got "
                f"{getattr(f, 'dtype', type(f))} {getattr(f, 'shape', '')}")
        if f.shape[0] == 0:
            raise InvalidInputError(f"{self.origin}: video has no frames")
        if self.fps <= 0:
            raise InvalidInputError(f"{self.origin}: fps must be positive, got {self.fps}")

    def __repr__(self) -> str:
        return f"Video({self.num_frames}x{self.height}x{self.width}, fps={self.fps:g}, origin={self.origin!r})"

    # -- facts -------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.height, self.width

    def fingerprint(self) -> str:
        """Content hash of the pixels and fps (cached; frames are treated as immutable)."""
        if not self._digest:
            self._digest.append(f"{array_digest(self.frames)}@{self.fps:g}")
        return self._digest[0]

    def __len__(self) -> int:
        return self.num_frames

    # -- transforms (each returns a new Video) -----------------------------------------
    def with_frames(self, frames: np.ndarray, *, fps: float | None = None, note: str = "") -> "Video":
        origin = f"{self.origin}|{note}" if note else self.origin
        return Video(np.ascontiguousarray(frames), self.fps if fps is None else fps, origin)

    def subsample(self, start: int = 0, end: int | None = None, step: int = 1) -> "Video":
        """Frames ``start:end:step`` (Python slice semantics: ``end`` exclusive)."""
        if step < 1 or start < 0:
            raise InvalidInputError(f"{self.origin}: invalid frame range ({start}, {end}, {step})")
        if end is not None and end > self.num_frames:
            raise InvalidInputError(
                f"{self.origin}: frame range end {end} exceeds the video's {self.num_frames} frames")
        frames = self.frames[start:end:step]
        if len(frames) == 0:
            raise InvalidInputError(f"{self.origin}: frame range ({start}, {end}, {step}) selects no frames")
        return self.with_frames(frames, fps=self.fps / step, note=f"frames[{start}:{end}:{step}]")

    def truncate(self, num_frames: int) -> "Video":
        return self if num_frames >= self.num_frames else self.with_frames(
            self.frames[:num_frames], note=f"first{num_frames}")

    def resize(self, height: int, width: int) -> "Video":
        """Resize every frame (area interpolation when shrinking, bilinear when growing)."""
        import cv2

        if (height, width) == self.size:
            return self
        interp = cv2.INTER_AREA if height * width < self.height * self.width else cv2.INTER_LINEAR
        frames = np.stack([cv2.resize(f, (width, height), interpolation=interp) for f in self.frames])
        return self.with_frames(frames, note=f"resize{height}x{width}")

    def reversed(self) -> "Video":
        return self.with_frames(self.frames[::-1], note="reversed")


# -- reading -------------------------------------------------------------------------------

def read_video(path: str | os.PathLike, *, fps: float | None = None) -> Video:
    """Read an mp4 (or any PyAV container) or a folder of frames (DAVIS layout ``00000.jpg``).

    ``fps`` is used for frame folders (default 24, DAVIS's rate) and ignored for containers.
    """
    p = Path(path)
    if p.is_dir():
        return _read_frame_folder(p, fps or 24.0)
    if not p.exists():
        raise MissingDataError(f"{p}: no such file or folder")
    return _read_container(p)


def _read_container(p: Path) -> Video:
    import av

    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{p}: no video stream")
            stream = container.streams.video[0]
            declared = stream.frames or 0
            rate = float(stream.average_rate or stream.guessed_rate or 0) or 24.0
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except VideoReadError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(f"{p}: unreadable video ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise VideoReadError(f"{p}: video is empty (no decodable frames)")
    if declared and len(frames) < declared:
        raise VideoReadError(f"{p}: truncated video: decoded {len(frames)} of {declared} declared frames")
    return Video(np.stack(frames), rate, str(p))


def _read_frame_folder(p: Path, fps: float) -> Video:
    from PIL import Image

    files = sorted(f for f in p.iterdir() if f.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise VideoReadError(f"{p}: frame folder is empty (no {'/'.join(FRAME_SUFFIXES)} files)")
    frames = []
    for f in files:
        try:
            with Image.open(f) as im:
                frame = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise VideoReadError(f"{f}: unreadable frame ({exc})") from None
        if frames and frame.shape != frames[0].shape:
            raise VideoReadError(
                f"{f}: frame size {frame.shape[1]}x{frame.shape[0]} differs from "
                f"{files[0].name}'s {frames[0].shape[1]}x{frames[0].shape[0]}")
        frames.append(frame)
    return Video(np.stack(frames), fps, str(p))


def read_masks(path: str | os.PathLike) -> np.ndarray:
    """Binary masks (T, H, W) bool from a folder of PNGs (DAVIS ``Annotations``) or one image."""
    from PIL import Image

    p = Path(path)
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in FRAME_SUFFIXES) if p.is_dir() else [p]
    if not files:
        raise VideoReadError(f"{p}: mask folder is empty")
    masks = []
    for f in files:
        try:
            with Image.open(f) as im:
                m = np.asarray(im.convert("L")) > 0
        except OSError as exc:
            raise VideoReadError(f"{f}: unreadable mask ({exc})") from None
        if masks and m.shape != masks[0].shape:
            raise VideoReadError(f"{f}: mask size differs from {files[0].name}")
        masks.append(m)
    return np.stack(masks)


# -- writing (atomic: temp file then rename) -------------------------------------------------

def write_video(video: Video, path: str | os.PathLike, *, crf: int = 18) -> Path:
    """Write an mp4 (H.264, yuv420p, lossy) or, for a path without suffix, a frame folder of PNGs."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == "":
        return _write_frame_folder(video, p)
    import av
    from fractions import Fraction

    fd, tmp = tempfile.mkstemp(suffix=p.suffix, dir=p.parent)
    os.close(fd)
    try:
        h, w = video.height - video.height % 2, video.width - video.width % 2  # yuv420p needs even sizes
        with av.open(tmp, mode="w") as container:
            stream = container.add_stream("libx264", rate=Fraction(video.fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": str(crf)}
            for frame in video.frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(frame[:h, :w]), format="rgb24")))
            container.mux(stream.encode())
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def _write_frame_folder(video: Video, p: Path) -> Path:
    from PIL import Image

    tmp = Path(tempfile.mkdtemp(dir=p.parent, prefix=f".{p.name}."))
    for i, frame in enumerate(video.frames):
        Image.fromarray(frame).save(tmp / f"{i:05d}.png")
    if p.exists():
        import shutil
        shutil.rmtree(p)
    os.replace(tmp, p)
    return p
