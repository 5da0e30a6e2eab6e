"""Generation artifacts: the frames of one or more videos in a lossless ``.npz`` (a stored zip of
``frames_<i>``, ``fps_<i>``, ``origin_<i>`` arrays), written atomically. Metric values must be
identical whether computed right after generation or from the artifact after a resume. A video
made of its source's frames (``copy``, ``reverse``, ...) holds ``index_<i>`` into the source's
frames, stored once in ``sources/`` (evalkit.run.derived), and the digest of its frames.

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
from ..hashing import array_digest
from ..video import Video
from .derived import SOURCES, frame_digests, frame_indices, rebuild, source_file

TMP_PREFIX = ".tmp-"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: a temporary file of another host is removed when older than this (its process cannot be checked)
FOREIGN_TMP_MAX_AGE_S = 24 * 3600


class ArtifactIntegrityError(VideoReadError):
    """An artifact that is missing, or whose bytes are not the ones recorded."""


def write_artifact(videos: Sequence[Video], path: str | os.PathLike, source: Video | None = None) -> str:
    """Write ``videos`` to ``path`` atomically; the content digest of the bytes written.

    A video made of ``source``'s frames is written as their indices (evalkit.run.derived: the
    source's frames once, in ``sources/``). The zip is stored, not deflated: a 49×480×720 video
    takes 0.06 s instead of deflate-1's 1.8 s for a tenth of the bytes, which the GPU work it
    feeds would wait for. Entries carry a fixed date, so equal videos give equal bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    source_digests = frame_digests(source.frames) if source is not None else None
    for i, v in enumerate(videos):
        indices = frame_indices(v, source, source_digests) if source is not None else None
        if indices is None:
            arrays[f"frames_{i}"] = v.frames
        else:
            arrays[f"index_{i}"] = indices
            arrays[f"source_{i}"] = np.str_(source_file(path.parent, source, tmp_prefix()).name)
            arrays[f"digest_{i}"] = np.str_(array_digest(v.frames))
        arrays[f"fps_{i}"] = np.float64(v.fps)
        arrays[f"origin_{i}"] = np.str_(v.origin)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent, prefix=tmp_prefix())
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, arr in arrays.items():
                with zf.open(zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE), "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
        digest = content_digest(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return digest


def tmp_prefix() -> str:
    return f"{TMP_PREFIX}{_host()}-{os.getpid()}-"


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
            n = sum(1 for k in z.files if k.startswith("fps_"))
            if n == 0:
                raise KeyError("no videos (fps_<i> arrays)")
            return tuple(Video(_frames(z, i, p), float(z[f"fps_{i}"]), str(z[f"origin_{i}"])) for i in range(n))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise VideoReadError(f"{p}: unreadable generation artifact ({exc})") from None


def _frames(z, i: int, path: Path) -> np.ndarray:
    """Video ``i``'s frames: stored, or rebuilt from its source's frames and checked."""
    if f"frames_{i}" in z.files:
        return z[f"frames_{i}"]
    name = str(z[f"source_{i}"])
    if not (path.parent / SOURCES / name).is_file():
        raise ArtifactIntegrityError(f"{path}: the source frames it refers to ({SOURCES}/{name}) are missing")
    frames = rebuild(path.parent, name, z[f"index_{i}"])
    if array_digest(frames) != str(z[f"digest_{i}"]):
        raise ArtifactIntegrityError(f"{path}: the source frames it refers to ({SOURCES}/{name}) changed")
    return frames


def clean_temporary_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed processes left in ``folder``: those of this host
    whose process is gone, and those of other hosts older than a day. Returns what was removed."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    host = _host()
    for f in [*folder.glob(f"{TMP_PREFIX}*"), *(folder / SOURCES).glob(f"{TMP_PREFIX}*")]:
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
