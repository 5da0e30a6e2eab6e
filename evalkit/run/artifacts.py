"""Generation artifacts: the frames of one or more videos in a lossless ``.npz`` (a zip of
``frames_<i>``, ``fps_<i>``, ``origin_<i>`` arrays), written atomically. Metric values must be
identical whether computed right after generation or from the artifact after a resume.

Each artifact's content digest (sha256 of its bytes) is stored with its generation and checked
whenever it is loaded: a file replaced by another valid artifact, or damaged, is an
:class:`ArtifactIntegrityError` (the runner regenerates it), never silently measured.

Temporary files are named ``.tmp-<host>-<pid>-*`` so that a run starting on the same store can
remove those of dead processes (:func:`clean_temporary_files`) without touching those of
concurrent runners.
"""
from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import VideoReadError
from ..video import Video

TMP_PREFIX = ".tmp-"
#: a temporary file of another host is removed when older than this (its process cannot be checked)
FOREIGN_TMP_MAX_AGE_S = 24 * 3600


class ArtifactIntegrityError(VideoReadError):
    """An artifact that is missing, or whose bytes are not the ones recorded."""


def write_artifact(videos: Sequence[Video], path: str | os.PathLike) -> str:
    """Write ``videos`` to ``path`` atomically; the content digest of the bytes written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for i, v in enumerate(videos):
        arrays[f"frames_{i}"] = v.frames
        arrays[f"fps_{i}"] = np.float64(v.fps)
        arrays[f"origin_{i}"] = np.str_(v.origin)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent, prefix=f"{TMP_PREFIX}{_host()}-{os.getpid()}-")
    os.close(fd)
    try:
        # deflate level 1 is ~4x faster than savez_compressed's default; frames compress nearly as well
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, arr in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
        digest = content_digest(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return digest


def save_videos(videos: Sequence[Video], path: str | os.PathLike) -> Path:
    write_artifact(videos, path)
    return Path(path)


def content_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_videos(path: str | os.PathLike, digest: str | None = None) -> tuple[Video, ...]:
    """The videos of an artifact; with ``digest``, only if its bytes are the recorded ones."""
    p = Path(path)
    if digest:
        if not p.is_file():
            raise ArtifactIntegrityError(f"{p}: generation artifact missing")
        found = content_digest(p)
        if found != digest:
            raise ArtifactIntegrityError(f"{p}: generation artifact changed since it was generated "
                                         f"(sha256 {found[:12]}…, recorded {digest[:12]}…)")
    try:
        with np.load(p) as z:
            n = sum(1 for k in z.files if k.startswith("frames_"))
            if n == 0:
                raise KeyError("no frames_<i> arrays")
            return tuple(Video(z[f"frames_{i}"], float(z[f"fps_{i}"]), str(z[f"origin_{i}"])) for i in range(n))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise VideoReadError(f"{p}: unreadable generation artifact ({exc})") from None


def clean_temporary_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed processes left in ``folder``: those of this host
    whose process is gone, and those of other hosts older than a day. Returns what was removed."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    host = _host()
    for f in folder.glob(f"{TMP_PREFIX}*"):
        owner, pid = _owner(f.name)
        try:
            stale = (not _alive(pid)) if owner == host else time.time() - f.stat().st_mtime > FOREIGN_TMP_MAX_AGE_S
            if stale:
                f.unlink()
                removed.append(f)
        except FileNotFoundError:   # its writer finished (renamed it) meanwhile
            continue
    return removed


def _host() -> str:
    return socket.gethostname().replace("-", "_")


def _owner(name: str) -> tuple[str, int]:
    host, _, rest = name[len(TMP_PREFIX):].partition("-")
    pid = rest.partition("-")[0]
    return host, int(pid) if pid.isdigit() else -1


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's live process
        return True
    return True
