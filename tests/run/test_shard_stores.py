"""Where a --shard process writes: its own store when --out is on a network filesystem (where
one SQLite file must not be shared between hosts), the shared store otherwise."""
from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.run.shard_stores import filesystem_type, on_network_filesystem, shard_folders, store_for_shard

MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export/scratch /scratch nfs4 rw,vers=4.2 0 0
10.0.0.1@o2ib:/lustre /lustre lustre rw,flock 0 0
/dev/sdb1 /scratch/local ext4 rw 0 0
tmpfs /scratch/my\\040space tmpfs rw 0 0
"""


@pytest.fixture
def mounts(tmp_path) -> Path:
    path = tmp_path / "mounts"
    path.write_text(MOUNTS)
    return path


@pytest.mark.parametrize("out, kind", [
    ("/scratch/runs/davis", "nfs4"),             # a folder that does not exist yet: its mount decides
    ("/scratch/local/runs", "ext4"),             # the longest mount point wins
    ("/lustre/project/runs", "lustre"),
    ("/home/me/runs", "ext4"),
    ("/scratch/my space/runs", "tmpfs"),         # /proc/mounts writes a space as \\040
])
def test_the_filesystem_of_out_is_read_from_the_mount_table(mounts, out, kind):
    assert filesystem_type(out, mounts) == kind


def test_a_shard_on_a_network_filesystem_writes_its_own_store(mounts):
    assert store_for_shard("/scratch/runs", (2, 8), "auto", mounts) == Path("/scratch/runs/shards/2-of-8")
    assert store_for_shard("/lustre/runs", (0, 2), "auto", mounts) == Path("/lustre/runs/shards/0-of-2")
    assert store_for_shard("/scratch/local/runs", (2, 8), "auto", mounts) == Path("/scratch/local/runs")
    assert store_for_shard("/scratch/runs", (0, 1), "auto", mounts) == Path("/scratch/runs")   # not sharded
    assert store_for_shard("/home/runs", (1, 2), "own", mounts) == Path("/home/runs/shards/1-of-2")
    assert store_for_shard("/scratch/runs", (1, 2), "shared", mounts) == Path("/scratch/runs")
    with pytest.raises(EvalkitError, match="--shard-store 'mine'"):
        store_for_shard("/scratch/runs", (1, 2), "mine", mounts)


def test_without_a_mount_table_nothing_is_assumed(tmp_path):
    assert filesystem_type(tmp_path, tmp_path / "no-mounts") is None
    assert not on_network_filesystem(tmp_path, tmp_path / "no-mounts")   # --shard-store own says it


def test_shard_folders_lists_the_per_shard_stores(tmp_path):
    assert shard_folders(tmp_path) == []
    for name in ("1-of-2", "0-of-2", ".tmp-host-1-abc"):   # the last: a killed driver's half-unpacked store
        (tmp_path / "shards" / name).mkdir(parents=True)
    assert [p.name for p in shard_folders(tmp_path)] == ["0-of-2", "1-of-2"]
