"""Merge shard stores into one store: how work done on several hosts becomes one run.

SQLite's WAL store is safe for many processes of one host only (its shared memory does not
work over a network filesystem, and its locking over NFS is unreliable), so a run spread over
several hosts writes one store per worker (a ``--shard i/n`` folder, a Ray task's node-local
folder) and merges them into one with :func:`merge_stores` (``evalkit merge``).

A merge takes one shard at a time, in one transaction: it finds every conflicting record,
copies the shard's artifacts (and the source frames derived artifacts index into), every byte
checked against the digest recorded with its generation (a source file against the content
hash in its name), then inserts its rows. It is
idempotent (a row or file the store holds already is kept) and so resumable: a merge killed at
any moment leaves a consistent store, and running it again finishes it. The same key with
different content is refused (:class:`MergeConflictError`, one line naming the key, the shard
and both values) rather than overwritten, except where ``policy`` says which side is newer:

- ``strict`` (``evalkit merge``): an environment failure (never a result) gives way to any
  other record; anything else must be equal;
- ``retry`` (a run with ``--retry-failed``): an item failure also gives way to the shard's record;
- ``recompute`` (a run with ``--recompute``): the shard's record replaces the store's.

Each merged run's status is then recomputed from its merged rows (``complete`` when every
expected result is present and ok), so the merged store equals a single-process run: values,
artifact bytes and run status (timings and load rows are measurements of each process).
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import EvalkitError
from ..hashing import array_digest
from .artifacts import ArtifactIntegrityError, content_digest, tmp_prefix
from .derived import SOURCES
from .failures import ENVIRONMENT, ITEM, STATUS
from .outcome import outcome
from .rows import ResultRow
from .store import STORE_FILENAME, ResultsStore
from .store_errors import StoreError

POLICIES = ("strict", "retry", "recompute")
ENV, ITEM_FAILED = STATUS[ENVIRONMENT], STATUS[ITEM]


class MergeConflictError(EvalkitError):
    """The same key holds different content in the store and in a shard."""


@dataclass
class MergeReport:
    """What one merge did, summed over its shards."""
    shards: int = 0
    artifacts: int = 0         # artifact files copied (those already present are not counted)
    sources: int = 0           # source-frame files copied
    rows: int = 0              # result and cache rows inserted or replaced (0: nothing new)
    runs: dict[str, str] = field(default_factory=dict)   # run id -> status after the merge
    seconds: float = 0.0


def merge_stores(out: str | Path, shards: Iterable[str | Path], *, policy: str = "strict") -> MergeReport:
    """Merge the stores under each of ``shards`` into the store under ``out`` (created if
    needed); each shard is left as it was."""
    if policy not in POLICIES:
        raise EvalkitError(f"merge policy {policy!r}: expected one of {', '.join(POLICIES)}")
    start = time.perf_counter()
    target = ResultsStore(out)   # created with the current schema, or its version checked
    path = target.path
    target.close()
    shard_paths = [_shard_store(s) for s in shards]
    if any(p.resolve() == path.resolve() for p in shard_paths):
        raise EvalkitError(f"{path}: cannot merge a store into itself")
    report = MergeReport()
    runs: set[str] = set()
    for shard in shard_paths:
        artifacts, sources, rows = _merge_shard(path, shard, policy, runs)
        report.artifacts += artifacts
        report.sources += sources
        report.rows += rows
        report.shards += 1
    store = ResultsStore(out)
    try:
        for run_id in sorted(runs):
            expected = store.run(run_id).get("expected")
            status = outcome(store.results(run_id), expected).status
            store.finish_run(run_id, status)
            report.runs[run_id] = status
    finally:
        store.close()
    report.seconds = time.perf_counter() - start
    return report


def _shard_store(folder: str | Path) -> Path:
    """A shard's store file (checked: an evalkit store of the current schema version)."""
    path = Path(folder)
    path = path / STORE_FILENAME if path.is_dir() or path.suffix == "" else path
    if not path.is_file():
        raise EvalkitError(f"{path}: no results store here (a shard folder holds {STORE_FILENAME})")
    ResultsStore(path, readonly=True).close()
    return path


# -- files -------------------------------------------------------------------------------
def _copy_files(con: sqlite3.Connection, shard: Path, root: Path) -> tuple[int, int]:
    """Copy the shard's artifacts (and the source frames they refer to) into ``root``, each
    checked; files the store holds already, with the same bytes, are kept."""
    rows = con.execute("SELECT key, artifact, artifact_digest FROM shard.generations "
                       "WHERE status = 'ok' AND artifact != ''").fetchall()
    artifacts = sources = 0
    done_sources: set[str] = set()
    for key, artifact, digest in rows:
        src, dst = shard.parent / artifact, root / artifact
        if not digest:
            raise ArtifactIntegrityError(f"{shard}: generation {key} records no artifact digest; it cannot be "
                                         f"checked, so it is not merged")
        for name in artifact_sources(src, shard):
            if name not in done_sources:
                sources += _copy_source(shard.parent / "artifacts" / SOURCES / name,
                                        root / "artifacts" / SOURCES / name, shard)
                done_sources.add(name)
        if dst.is_file() and content_digest(dst) == digest:
            continue
        _copy_checked(src, dst, digest, shard)
        artifacts += 1
    return artifacts, sources


def artifact_sources(artifact: Path, shard: Path) -> list[str]:
    """The source-frame files a derived artifact indexes into (none for stored frames)."""
    if not artifact.is_file():
        raise ArtifactIntegrityError(f"{shard}: generation artifact {artifact.name} is missing from the shard")
    try:
        with np.load(artifact) as z:
            return [str(z[k]) for k in z.files if k.startswith("source_")]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ArtifactIntegrityError(f"{shard}: unreadable generation artifact {artifact.name} ({exc})") from None


def _copy_checked(src: Path, dst: Path, digest: str, shard: Path) -> None:
    """Copy ``src`` to ``dst`` atomically, its sha256 computed while copying; a file whose
    bytes are not the recorded ones is refused."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=dst.suffix, dir=dst.parent, prefix=tmp_prefix())
    try:
        h = hashlib.sha256()
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                h.update(chunk)
                fout.write(chunk)
        if h.hexdigest() != digest:
            raise ArtifactIntegrityError(f"{shard}: artifact {src.name} changed since it was generated "
                                         f"(sha256 {h.hexdigest()[:12]}…, recorded {digest[:12]}…); not merged")
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _copy_source(src: Path, dst: Path, shard: Path) -> int:
    """A source-frame file, checked against the content hash in its name (derived.source_file)."""
    if not src.is_file():
        raise ArtifactIntegrityError(f"{shard}: the source frames {SOURCES}/{src.name} an artifact refers to "
                                     f"are missing from the shard")
    expected = src.stem.split("_")[0]
    if dst.is_file() and _source_digest(dst) == expected:
        return 0
    found = _source_digest(src)
    if found != expected:
        raise ArtifactIntegrityError(f"{shard}: source frames {SOURCES}/{src.name} changed (content "
                                     f"{found[:12]}…); not merged")
    _copy_checked(src, dst, content_digest(src), shard)
    return 1


def _source_digest(path: Path) -> str:
    try:
        return array_digest(np.load(path, mmap_mode="r", allow_pickle=False))
    except (OSError, ValueError) as exc:
        return f"unreadable ({exc})"


# -- rows --------------------------------------------------------------------------------
def _merge_shard(target: Path, shard: Path, policy: str, runs: set[str]) -> tuple[int, int, int]:
    """One shard into the store, in one transaction (the shard ``ATTACH``ed read-only): every
    conflict is found first, then the files are copied (so no file of the store is replaced
    by one whose row is refused), then the rows. Returns the artifacts, source files and rows added."""
    con = sqlite3.connect(f"file:{urllib.parse.quote(str(target.resolve()))}", uri=True, timeout=60,
                          isolation_level=None)
    try:
        con.execute("ATTACH DATABASE ? AS shard",
                    (f"file:{urllib.parse.quote(str(shard.resolve()))}?mode=ro",))
        con.execute("BEGIN IMMEDIATE")
        try:
            _check_runs(con, shard)
            replace = {table: _decide(con, shard, policy, table) for table in _TABLES}
            artifacts, sources = _copy_files(con, shard, target.parent)
            before = con.total_changes
            for table, keys in replace.items():
                _apply(con, table, keys)
            rows = con.total_changes - before   # results and caches; loads and runs are bookkeeping
            con.execute("INSERT OR REPLACE INTO main.loads SELECT * FROM shard.loads")   # one row per process
            _merge_runs(con)
            runs.update(r for (r,) in con.execute("SELECT run_id FROM shard.runs"))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return artifacts, sources, rows
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{target}: merging {shard} failed ({' '.join(str(exc).split())})") from None
    finally:
        con.close()


@dataclass(frozen=True)
class _Table:
    """How two records of one key compare: ``content`` is what must be equal (timings,
    creation times and error wording are measurements of each process, not content);
    ``status`` the column saying whether a record is a result or a failure."""
    key: tuple[str, ...]
    content: tuple[str, ...]
    status: str = ""


_TABLES = {
    # generations before the rows that point at them
    "generations": _Table(("key",), ("status", "artifact_digest"), "status"),
    "metric_values": _Table(("key",), ("status", "value"), "status"),
    "run_items": _Table(("run_id", "case_id", "generator", "seed"), ("generation_key",)),
    "results": _Table(ResultRow.KEY, ("generation_key", "metric_key")),
}


def _decide(con: sqlite3.Connection, shard: Path, policy: str, table: str) -> list[tuple]:
    """The keys of ``table`` both hold with different content whose record the shard's replaces
    (by ``policy``, see the module); any other difference stops the merge."""
    spec = _TABLES[table]
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
    same = " AND ".join(f"t.{c} IS s.{c}" for c in spec.content)
    shown = [f"t.{c}" for c in spec.content] + [f"s.{c}" for c in spec.content]
    differ = (f"SELECT {', '.join('s.' + k for k in spec.key)}, {', '.join(shown)} "
              f"FROM shard.{table} s JOIN main.{table} t ON {on} WHERE NOT ({same})")
    n, replace = len(spec.content), []
    for row in con.execute(differ).fetchall():
        ident, mine, theirs = row[:len(spec.key)], row[len(spec.key):][:n], row[len(spec.key) + n:]
        verdict = _resolve(policy, spec, dict(zip(spec.content, mine)), dict(zip(spec.content, theirs)))
        if verdict == "replace":
            replace.append(ident)
        elif verdict == "conflict":
            fix = ("a --retry-failed or --recompute run merges its own records" if policy == "strict"
                   else f"policy {policy}")
            raise MergeConflictError(
                f"{shard}: {table} {' / '.join(map(str, ident))}: the store holds {_show(spec, mine)}, the shard "
                f"{_show(spec, theirs)}; refusing to merge conflicting records ({fix})")
    return replace


def _apply(con: sqlite3.Connection, table: str, replace: list[tuple]) -> None:
    """The shard's rows of ``table`` whose key the store lacks, and those ``replace`` names."""
    spec = _TABLES[table]
    cols = ", ".join(_columns(con, table))
    where = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
    con.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM shard.{table} s "
                f"WHERE NOT EXISTS (SELECT 1 FROM main.{table} t WHERE {where})")
    match = " AND ".join(f"{k} = ?" for k in spec.key)
    for ident in replace:
        con.execute(f"INSERT OR REPLACE INTO main.{table} ({cols}) SELECT {cols} FROM shard.{table} "
                    f"WHERE {match}", ident)


def _resolve(policy: str, spec: _Table, mine: dict, theirs: dict) -> str:
    """keep | replace | conflict, for one key whose records differ."""
    if spec.status:
        if theirs[spec.status] == ENV and mine[spec.status] != ENV:
            return "keep"      # an environment failure is no result
        if mine[spec.status] == ENV:
            return "replace"
        if policy == "retry" and mine[spec.status] == ITEM_FAILED:
            return "replace"
    elif mine["generation_key"] == theirs.get("generation_key") and "" in (mine.get("metric_key"), theirs.get("metric_key")):
        # a result row of a failed generation ("" points at no value): the generations, merged
        # first, decided which side's generation stays
        return "replace" if mine["metric_key"] == "" or policy == "recompute" else "keep"
    return "replace" if policy == "recompute" else "conflict"


def _show(spec: _Table, values) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in zip(spec.content, values))


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f"PRAGMA main.table_info({table})")]


def _check_runs(con: sqlite3.Connection, shard: Path) -> None:
    """A run id names one plan: the shard's plan and expected count must be the store's."""
    rows = con.execute("SELECT s.run_id, t.plan, s.plan, t.expected, s.expected FROM shard.runs s "
                       "JOIN main.runs t ON t.run_id = s.run_id").fetchall()
    for run_id, mine, theirs, my_expected, their_expected in rows:
        if json.loads(mine) != json.loads(theirs) or my_expected != their_expected:
            raise MergeConflictError(f"{shard}: run {run_id}: its plan (or expected result count) differs from "
                                     f"the store's run of that id; refusing to merge")


def _merge_runs(con: sqlite3.Connection) -> None:
    """New runs are inserted; a run both hold spans the earliest start and the latest update
    (its status is recomputed once every shard is merged)."""
    con.execute("INSERT INTO main.runs SELECT * FROM shard.runs s "
                "WHERE NOT EXISTS (SELECT 1 FROM main.runs t WHERE t.run_id = s.run_id)")
    con.execute("UPDATE main.runs SET created = min(created, (SELECT s.created FROM shard.runs s "
                "WHERE s.run_id = runs.run_id)), updated = max(updated, (SELECT s.updated FROM shard.runs s "
                "WHERE s.run_id = runs.run_id)) WHERE run_id IN (SELECT run_id FROM shard.runs)")
