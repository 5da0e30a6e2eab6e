"""y–t slices (Motion by Queries App. B.7 / Fig. 7): the column of maximum temporal variance,
stacked over time, shown beside the first frame with that column marked.

A y–t slice is an image whose vertical axis is the frame's y and horizontal axis is time:
slice[y, t] = frame_t[y, x*]. Motion shows as slanted or wavy structure; a static video
gives horizontal stripes; a copy of the source reproduces the source's slice.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..run.artifacts import load_videos
from ..video import Video

MARK = (255, 220, 0)  # the yellow line of the paper's figure


def column_variance(frames: np.ndarray) -> np.ndarray:
    """Per column x: luma variance over time, summed over y (shape (W,))."""
    luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (T, H, W)
    return luma.var(axis=0).sum(axis=0)


def max_variance_column(frames: np.ndarray) -> int:
    """x of the column whose pixels vary most over time."""
    return int(np.argmax(column_variance(frames)))


def yt_slice(frames: np.ndarray, x: int | None = None) -> tuple[int, np.ndarray]:
    """(x, slice) with slice of shape (H, T, 3): column x of every frame, time along the width."""
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise ValueError(f"expected frames (T, H, W, 3), got {frames.shape}")
    x = max_variance_column(frames) if x is None else int(x)
    return x, np.ascontiguousarray(frames[:, :, x, :].transpose(1, 0, 2))


def slice_panel(video: Video, *, height: int = 128, time_px: int = 4, x: int | None = None) -> Image.Image:
    """First frame with the chosen column marked, then its y–t slice (each frame ``time_px`` wide)."""
    x, sl = yt_slice(video.frames, x)
    first = Image.fromarray(video.frames[0])
    draw = ImageDraw.Draw(first)
    draw.line([(x, 0), (x, first.height - 1)], fill=MARK, width=max(1, first.width // 128))
    scale = height / first.height
    first = first.resize((max(1, round(first.width * scale)), height), Image.BILINEAR)
    sl_img = Image.fromarray(sl).resize((sl.shape[1] * time_px, height), Image.NEAREST)
    panel = Image.new("RGB", (first.width + 4 + sl_img.width, height), (255, 255, 255))
    panel.paste(first, (0, 0))
    panel.paste(sl_img, (first.width + 4, 0))
    return panel


def sheet_columns(videos: Sequence[Video]) -> list[int]:
    """Each video's column of maximum temporal variance; a video without any temporal variance
    (a still) has no such column and is cut at the first video's column instead."""
    first_x = max_variance_column(videos[0].frames)
    out = []
    for v in videos:
        var = column_variance(v.frames)
        out.append(int(np.argmax(var)) if var.max() > 1e-3 else min(first_x, v.width - 1))  # float32 rounding
    return out


def contact_sheet(videos: Sequence[tuple[str, Video]], *, height: int = 96, time_px: int = 6) -> Image.Image:
    """One row per (label, video): label, first frame with the marked column, y–t slice."""
    if not videos:
        raise ValueError("contact sheet of no videos")
    columns = sheet_columns([v for _, v in videos])
    panels = [(label, slice_panel(v, height=height, time_px=time_px, x=x))
              for (label, v), x in zip(videos, columns)]
    label_w = 110
    width = label_w + max(p.width for _, p in panels)
    sheet = Image.new("RGB", (width, sum(p.height + 6 for _, p in panels)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        font = ImageFont.load_default()
    y = 0
    for label, p in panels:
        draw.text((4, y + p.height // 2 - 7), label[:14], fill=(0, 0, 0), font=font)
        sheet.paste(p, (label_w, y))
        y += p.height + 6
    return sheet


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def animation_bytes(video: Video, *, width: int = 128, max_frames: int = 24, quality: int = 50) -> tuple[bytes, str]:
    """A small looping animation of the video: (bytes, mime). Lossy WebP where Pillow has it
    (noise-like content compresses 2-4x better than GIF), else a GIF."""
    from PIL import features

    idx = np.linspace(0, video.num_frames - 1, min(max_frames, video.num_frames)).round().astype(int)
    h = max(1, round(video.height * width / video.width))
    frames = [Image.fromarray(video.frames[i]).resize((width, h), Image.BILINEAR) for i in idx]
    duration = max(40, int(1000 / video.fps * video.num_frames / len(idx)))
    buf = io.BytesIO()
    if features.check("webp"):
        frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], loop=0, duration=duration,
                       quality=quality)
        return buf.getvalue(), "image/webp"
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], loop=0, duration=duration)
    return buf.getvalue(), "image/gif"


def load_artifact_videos(path: str | Path, digest: str | None = None) -> list[Video]:
    """Videos of a generation artifact (see evalkit.run.artifacts); with ``digest``, only when
    its bytes are the ones recorded (an ArtifactIntegrityError otherwise)."""
    return list(load_videos(path, digest))
