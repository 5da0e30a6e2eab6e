"""Where a ``--shard i/n`` process writes: the shared store, or a store of its own to merge.

Processes of one host may share ``<out>/evalkit.sqlite`` (SQLite WAL serialises them). Across
hosts they may not: WAL needs shared memory, which a network filesystem does not provide, and
SQLite's file locking over NFS is unreliable (https://www.sqlite.org/wal.html, "WAL does not
work over a network filesystem"; https://www.sqlite.org/faq.html#q5). A shard on a network
filesystem therefore writes ``<out>/shards/<i>-of-<n>/`` (one process per store), and
``evalkit merge OUT OUT/shards/*`` (evalkit.run.merge) makes one store of them after the
array finishes. The filesystem is read from ``/proc/mounts`` (Linux); elsewhere, or to
override, ``--shard-store own|shared``.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import EvalkitError

SHARDS = "shards"   # folder of the per-shard stores under --out
MODES = ("auto", "own", "shared")

#: filesystem types (/proc/mounts, third field) on which several hosts may see one file
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "lustre", "gpfs", "cifs", "smb3", "smbfs", "beegfs", "ceph", "cephfs", "glusterfs",
    "fuse.glusterfs", "fuse.cephfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "afs",
    "panfs", "wekafs", "ocfs2", "gfs2", "orangefs", "pvfs2", "davfs", "fuse.davfs2",
})


def filesystem_type(path: str | Path, mounts: str | Path = "/proc/mounts") -> str | None:
    """The type of the filesystem holding ``path`` (which need not exist yet), from the longest
    matching mount point; None where the mount table cannot be read."""
    try:
        table = Path(mounts).read_text()
    except OSError:
        return None
    here = Path(path).absolute()
    missing: list[str] = []
    while not here.exists() and here != here.parent:   # links resolved where the path exists
        here, missing = here.parent, [here.name, *missing]
    here = here.resolve().joinpath(*missing)
    best, kind = -1, None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = here == Path(point) or Path(point) in here.parents
        if inside and len(point) > best:
            best, kind = len(point), fields[2]
    return kind


def on_network_filesystem(path: str | Path, mounts: str | Path = "/proc/mounts") -> bool:
    kind = filesystem_type(path, mounts)
    return kind is not None and kind.lower() in NETWORK_FILESYSTEMS


def shard_store_dir(out: str | Path, shard: tuple[int, int]) -> Path:
    """``<out>/shards/<i>-of-<n>``: one process's store."""
    index, count = shard
    return Path(out) / SHARDS / f"{index}-of-{count}"


def store_for_shard(out: str | Path, shard: tuple[int, int], mode: str = "auto",
                    mounts: str | Path = "/proc/mounts") -> Path:
    """The folder shard ``(i, n)`` writes its store into: ``out`` (shared) or its own folder.
    ``auto``: its own when ``out`` is on a network filesystem and the run has several shards."""
    if mode not in MODES:
        raise EvalkitError(f"--shard-store {mode!r}: expected {', '.join(MODES)}")
    own = mode == "own" or (mode == "auto" and shard[1] > 1 and on_network_filesystem(out, mounts))
    return shard_store_dir(out, shard) if own else Path(out)


def shard_folders(out: str | Path) -> list[Path]:
    """The per-shard stores under ``out`` (``evalkit merge OUT`` with no folders merges these);
    hidden folders are unpacking or were left half unpacked by a killed driver: not stores."""
    root = Path(out) / SHARDS
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


__all__ = ["MODES", "NETWORK_FILESYSTEMS", "filesystem_type", "on_network_filesystem", "shard_folders",
           "shard_store_dir", "store_for_shard"]
