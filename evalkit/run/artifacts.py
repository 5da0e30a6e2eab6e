"""Generation artifacts: the frames of one or more videos in a lossless ``.npz`` (a zip of
``frames_<i>``, ``fps_<i>``, ``origin_<i>`` arrays), written atomically. Metric values must be
identical whether computed right after generation or from the artifact after a resume."""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import VideoReadError
from ..video import Video


def save_videos(videos: Sequence[Video], path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for i, v in enumerate(videos):
        arrays[f"frames_{i}"] = v.frames
        arrays[f"fps_{i}"] = np.float64(v.fps)
        arrays[f"origin_{i}"] = np.str_(v.origin)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        # deflate level 1 is ~4x faster than savez_compressed's default; frames compress nearly as well
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, arr in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_videos(path: str | os.PathLike) -> tuple[Video, ...]:
    p = Path(path)
    try:
        with np.load(p) as z:
            n = sum(1 for k in z.files if k.startswith("frames_"))
            if n == 0:
                raise KeyError("no frames_<i> arrays")
            return tuple(Video(z[f"frames_{i}"], float(z[f"fps_{i}"]), str(z[f"origin_{i}"])) for i in range(n))
    except (OSError, KeyError, ValueError) as exc:
        raise VideoReadError(f"{p}: unreadable generation artifact ({exc})") from None
