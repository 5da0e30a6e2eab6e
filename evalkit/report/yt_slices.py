"""y–t slices (Motion by Queries App. B.7 / Fig. 7): the column of maximum temporal variance,
stacked over time, shown beside the first frame with that column marked. A contact sheet cuts
every row at the same column (the source's), draws a time axis in seconds and prints each row's
full label.

A y–t slice is an image whose vertical axis is the frame's y and horizontal axis is time:
slice[y, t] = frame_t[y, x*]. Motion shows as slanted or wavy structure; a static video
gives horizontal stripes; a copy of the source reproduces the source's slice.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

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


def sheet_columns(videos: Sequence[Video]) -> list[int]:
    """One column for every row, so the rows are comparable: the first video's (the source's)
    column of maximum temporal variance, at the same relative position in videos of another
    width. (A still first video has no such column: the first moving video's is taken.)"""
    ref = next((v for v in videos if column_variance(v.frames).max() > 1e-3), videos[0])   # float32 rounding
    x, width = max_variance_column(ref.frames), ref.width
    return [min(v.width - 1, round(x * v.width / width)) if v.width != width else x for v in videos]


def contact_sheet_figure(videos: Sequence[tuple[str, Video]], *, row_height: float = 1.1):
    """Matplotlib figure: per row the full label, the first frame with the shared column marked,
    and the y–t slice with a time axis in seconds (frames on the top axis)."""
    if not videos:
        raise ValueError("contact sheet of no videos")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from .escape import plot_escape

    columns = sheet_columns([v for _, v in videos])
    longest = max(v.num_frames / v.fps for _, v in videos)
    fig, axes = plt.subplots(len(videos), 2, figsize=(7.5, row_height * len(videos) + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 2.6]})
    for (label, video), x, (ax_frame, ax_slice) in zip(videos, columns, axes):
        ax_frame.imshow(video.frames[0], aspect="auto")
        ax_frame.axvline(x, color=np.array(MARK) / 255, lw=1.2)
        ax_frame.set_xticks([])
        ax_frame.set_yticks([])
        ax_frame.set_ylabel(plot_escape(label), rotation=0, ha="right", va="center", fontsize=8)
        _, sl = yt_slice(video.frames, x)
        duration = video.num_frames / video.fps
        ax_slice.imshow(sl, aspect="auto", interpolation="nearest", extent=(0, duration, video.height, 0))
        ax_slice.set_xlim(0, longest)
        ax_slice.set_yticks([])
        ax_slice.tick_params(labelsize=7)
    axes[-1][1].set_xlabel("time [s]", fontsize=8)
    axes[0][1].set_title(f"y–t slice at column x = {columns[0]} (of {videos[0][1].width}; yellow line), "
                         "the same for every row", fontsize=8)
    fig.tight_layout()
    return fig


def contact_sheet(videos: Sequence[tuple[str, Video]]) -> Image.Image:
    """One row per (label, video): the full label, the first frame with the shared column marked,
    and the y–t slice along a time axis."""
    fig = contact_sheet_figure(videos)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


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
    frames = [Image.fromarray(video.frames[i]).resize((width, h), Image.Resampling.BILINEAR) for i in idx]
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
