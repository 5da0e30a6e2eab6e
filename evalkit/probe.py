"""Cheap facts about source files (frame count, size) without decoding every frame, and the
file checks shared by the motion-transfer datasets (``evalkit data check``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .cases import FrameRange
from .video import FRAME_SUFFIXES


@dataclass(frozen=True)
class Probe:
    num_frames: int
    height: int
    width: int
    fps: float | None = None   # a container's frame rate (a frame folder has none of its own)


class ProbeError(Exception):
    pass


def _frame_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in FRAME_SUFFIXES)


def image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:  # reads the header only
            return im.height, im.width
    except OSError as exc:
        raise ProbeError(f"{path}: unreadable image ({exc})") from None


def probe_video(path: Path) -> Probe:
    """Frame count and size of a frame folder or a video container."""
    if path.is_dir():
        files = _frame_files(path)
        if not files:
            raise ProbeError(f"{path}: frame folder is empty")
        return Probe(len(files), *image_size(files[0]))
    if not path.exists():
        raise ProbeError(f"{path}: not found")
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ProbeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            n = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
            rate = stream.average_rate or stream.base_rate
            return Probe(int(n), int(stream.codec_context.height), int(stream.codec_context.width),
                         float(rate) if rate else None)
    except ProbeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ProbeError(f"{path}: unreadable video ({type(exc).__name__}: {exc})") from None


def probe_masks(path: Path) -> Probe:
    if path.is_dir():
        files = _frame_files(path)
        if not files:
            raise ProbeError(f"{path}: mask folder is empty")
        return Probe(len(files), *image_size(files[0]))
    if not path.exists():
        raise ProbeError(f"{path}: not found")
    return Probe(1, *image_size(path))


def range_needs(frame_range: FrameRange | None, num_frames: int) -> str | None:
    """Why ``frame_range`` does not fit a video of ``num_frames`` frames (None when it fits)."""
    if frame_range is None:
        return None
    if frame_range.end is not None and frame_range.end > num_frames:
        return (f"has {num_frames} frames, below the frame range end {frame_range.end} "
                f"(range {frame_range.start}:{frame_range.end}:{frame_range.step})")
    if frame_range.start >= num_frames:
        return f"has {num_frames} frames, frame range starts at {frame_range.start}"
    return None


def check_source(label: str, video_path: Path, frame_range: FrameRange | None,
                 masks_path: Path | None = None, *, masks_required: bool = False,
                 what: str = "source") -> list[str]:
    """Every problem with one source video (and its masks), prefixed by ``label``."""
    problems: list[str] = []
    try:
        video = probe_video(video_path)
    except ProbeError as exc:
        missing = not video_path.exists()
        problems.append(f"{label}: {what} {video_path} not found" if missing else f"{label}: {exc}")
        video = None
    if video is not None:
        why = range_needs(frame_range, video.num_frames)
        if why:
            problems.append(f"{label}: {what} {video_path} {why}")
    if masks_path is None:
        return problems
    if not masks_path.exists():
        if masks_required and video is not None:  # a missing source is reported once
            problems.append(f"{label}: masks {masks_path} not found")
        return problems
    try:
        masks = probe_masks(masks_path)
    except ProbeError as exc:
        return problems + [f"{label}: {exc}"]
    if video is not None:
        if (masks.height, masks.width) != (video.height, video.width):
            problems.append(f"{label}: mask size {masks.width}x{masks.height} ({masks_path}) differs from "
                            f"frame size {video.width}x{video.height}")
        if masks_path.is_dir() and masks.num_frames != video.num_frames:
            why = range_needs(frame_range, masks.num_frames)
            if why or frame_range is None:
                problems.append(f"{label}: masks {masks_path} cover {masks.num_frames} frames, "
                                f"the video has {video.num_frames}")
    return problems
