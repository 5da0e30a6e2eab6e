"""Which runs a live process is working on: one lock file per process, held while it runs.

A run is recorded ``running`` when a process starts on it and gets its final status when the
process ends, Ctrl-C and SIGTERM included. A process killed outright (SIGKILL, the OOM killer,
a lost node) writes nothing, so its run would read ``running`` forever. Each process working
on a run therefore holds an exclusive ``flock`` on ``<store folder>/locks/<run>.<host>.<pid>.lock``;
the kernel drops the lock when the process dies, however it dies. A run recorded ``running``
whose lock files are all free reads ``interrupted`` (``ResultsStore.run``).

Shards and ``--devices`` workers each hold their own file, so the run reads ``running`` while
any of them lives. Locks are advisory and work wherever ``flock`` does (local disks; NFS v4).
"""
from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:   # not POSIX: no lock, and a run recorded running is taken at its word
    fcntl = None  # type: ignore[assignment]

LOCKS = "locks"


def _folder(root: str | Path) -> Path:
    return Path(root) / LOCKS


@contextlib.contextmanager
def holding(root: str | Path, run_id: str) -> Iterator[None]:
    """Hold this process's lock on ``run_id`` (a store folder ``root``) for the block."""
    if fcntl is None:
        yield
        return
    folder = _folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.{socket.gethostname()}.{os.getpid()}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)   # our own file: never waits
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def held(root: str | Path, run_id: str) -> bool:
    """Whether a live process holds a lock on ``run_id`` (True where locks cannot be checked)."""
    if fcntl is None:
        return True
    folder = _folder(root)
    if not folder.is_dir():
        return False
    for path in folder.glob(f"{run_id}.*.lock"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:   # removed meanwhile: that process finished
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:   # a file system without locks: cannot tell, so believe the record
            return True
        finally:
            os.close(fd)   # releases the shared lock just taken
    return False
