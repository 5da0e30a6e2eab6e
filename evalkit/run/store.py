"""Embedded SQLite results store.

Tables
- ``runs``: one row per run with its plan and provenance.
- ``generations``: cache of generator outputs keyed by the hash of (case, generator config,
  seed); the frames live in an atomically written artifact file beside the store.
- ``metric_values``: cache of metric values keyed by the hash of (generation key, case,
  metric config incl. backend identity).
- ``results``: one :class:`~evalkit.run.rows.ResultRow` per run × case × generator × seed ×
  metric, pointing at a cached value (or at the failed generation).
- ``run_items``: one row per run × case × generator × seed (the run's generations).
- ``loads``: one :class:`~evalkit.run.rows.LoadRow` per run × generator × device × shard.

The file carries its schema version (``PRAGMA user_version``); opening a store of another
version is one clear error rather than a wrong query later. Every write is one committed
transaction (WAL journal), so killing the process at any moment leaves a consistent store;
a key that exists is never recomputed.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd

from .failures import ENVIRONMENT, STATUS
from .outcome import INTERRUPTED, RUNNING
from .rows import LoadRow, ResultRow, Row
from .run_lock import held
from .store_errors import StoreError, StoreVersionError, explain, named_errors

ENV = STATUS[ENVIRONMENT]   # the status of an environment failure (recorded, never reused)

#: 0 is the unversioned layout written before the version existed; 2 added ``loads``; 3 added the
#: expected result count of a run, artifact digests, failure classes and case content hashes.
STORE_SCHEMA_VERSION = 3

STORE_FILENAME = "evalkit.sqlite"


def _table(name: str, row: type[Row]) -> str:
    return f"CREATE TABLE {name} ({row.sql_columns()}, PRIMARY KEY ({', '.join(row.KEY)}))"


SCHEMA = (
    ("CREATE TABLE runs (run_id TEXT PRIMARY KEY, created REAL, updated REAL, status TEXT, plan TEXT, "
     "provenance TEXT, expected INTEGER)"),
    ("CREATE TABLE generations (key TEXT PRIMARY KEY, case_id TEXT, generator TEXT, seed INTEGER, "
     "status TEXT, error TEXT, artifact TEXT, inversion REAL, optimization REAL, inference REAL, "
     "peak_memory_bytes INTEGER, extras TEXT, created REAL, artifact_digest TEXT)"),
    ("CREATE TABLE metric_values (key TEXT PRIMARY KEY, status TEXT, value REAL, error TEXT, details TEXT, "
     "created REAL)"),
    _table("results", ResultRow),
    ("CREATE TABLE run_items (run_id TEXT, case_id TEXT, case_kind TEXT, category TEXT, generator TEXT, "
     "seed INTEGER, generation_key TEXT, case_hash TEXT, PRIMARY KEY (run_id, case_id, generator, seed))"),
    _table("loads", LoadRow),
)


@named_errors
class ResultsStore:
    """``readonly``: reports open the store without writing anything (a read-only file or
    folder can be reported)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path = path / STORE_FILENAME
        self.path = path
        self.root = path.parent
        self.readonly = readonly
        try:
            self._conn = self._connect()
        except sqlite3.DatabaseError as exc:
            raise StoreError(explain(path, exc)) from None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(explain(path, exc)) from None
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        if not self.readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no results store here")
        uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}"
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60, isolation_level=None)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            # a WAL store in a read-only folder cannot create its shared-memory file: read the
            # file as it is (nothing may write to it meanwhile, which a read-only folder ensures)
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=60, isolation_level=None)

    def _open(self) -> None:
        """Check the version of an existing store; give a fresh file the current schema."""
        try:
            found = self._version()
        except sqlite3.DatabaseError as exc:
            raise StoreError(explain(self.path, exc)) from None
        if found is not None and found != STORE_SCHEMA_VERSION:
            written = " (unversioned: written before stores carried a version)" if found == 0 else ""
            raise StoreVersionError(
                f"{self.path}: results store schema version {found}{written}; this evalkit reads version "
                f"{STORE_SCHEMA_VERSION}. Run into a new --out folder, or read this store with the evalkit "
                f"version that wrote it.")
        if self.readonly:
            if found is None:
                raise StoreError(f"{self.path}: an empty file, not an evalkit results store")
            return
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        if found is None:
            with self.transaction() as c:
                if self._version() is None:   # not created meanwhile by another shard's process
                    for statement in SCHEMA:
                        c.execute(statement)
                    c.execute(f"PRAGMA user_version = {STORE_SCHEMA_VERSION}")

    def _version(self) -> int | None:
        """The file's schema version; None for a fresh (empty) file."""
        if self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            return None
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def columns(self, table: str) -> list[str]:
        """The column names of one of the store's tables, in order (schema checks, tests)."""
        return [row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")]

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):   # a failed COMMIT may have ended it already
                self._conn.execute("ROLLBACK")
            raise

    # -- runs ---------------------------------------------------------------------------
    def start_run(self, run_id: str, plan: dict, provenance: dict, expected: int | None = None) -> None:
        """Record (or resume) a run; ``expected``: the result rows its plan asks for (all shards)."""
        now = time.time()
        with self.transaction() as c:
            c.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
                      "updated=excluded.updated, status='running', provenance=excluded.provenance, "
                      "expected=excluded.expected",
                      (run_id, now, now, "running", json.dumps(plan, sort_keys=True), json.dumps(provenance),
                       expected))

    def finish_run(self, run_id: str, status: str = "complete") -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET status=?, updated=? WHERE run_id=?", (status, time.time(), run_id))

    def runs(self) -> pd.DataFrame:
        """Every run's record; ``status`` as ``run`` reads it."""
        df = pd.read_sql_query("SELECT * FROM runs ORDER BY created", self._conn)
        for col in ("plan", "provenance"):
            df[col] = df[col].map(json.loads)
        df["status"] = [self._live(r, s) for r, s in zip(df["run_id"], df["status"])]
        return df

    def run(self, run_id: str) -> dict[str, Any]:
        """The run's record. A run recorded ``running`` that no live process holds (its process
        was killed: SIGKILL, the OOM killer, a lost node) reads ``interrupted``
        (evalkit.run.run_lock)."""
        row = self._conn.execute("SELECT run_id, created, updated, status, plan, provenance, expected FROM runs "
                                 "WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return {"run_id": row[0], "created": row[1], "updated": row[2], "status": self._live(row[0], row[3]),
                "plan": json.loads(row[4]), "provenance": json.loads(row[5]), "expected": row[6]}

    def _live(self, run_id: str, status: str) -> str:
        return INTERRUPTED if status == RUNNING and not held(self.root, run_id) else status

    def latest_run_id(self) -> str:
        row = self._conn.execute("SELECT run_id FROM runs ORDER BY updated DESC LIMIT 1").fetchone()
        if row is None:
            raise KeyError(f"no runs in {self.path}")
        return row[0]

    # -- generation cache ------------------------------------------------------------------
    def generation(self, key: str) -> dict[str, Any] | None:
        cur = self._conn.execute("SELECT * FROM generations WHERE key=?", (key,))
        row = cur.fetchone()
        if row is None:
            return None
        rec = dict(zip([d[0] for d in cur.description], row))
        rec["extras"] = json.loads(rec["extras"] or "{}")
        return rec

    def put_generation(self, key: str, *, case_id: str, generator: str, seed: int, status: str,
                       error: str = "", artifact: str = "", timings: tuple[float, float, float] = (0, 0, 0),
                       peak_memory_bytes: int = 0, extras: dict | None = None, artifact_digest: str = "") -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (key, case_id, generator, seed, status, error, artifact, *timings,
                       int(peak_memory_bytes), json.dumps(extras or {}, default=str), time.time(), artifact_digest))

    def add_run_item(self, run_id: str, case_id: str, case_kind: str, category: str, generator: str,
                     seed: int, generation_key: str, case_hash: str = "") -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO run_items VALUES (?,?,?,?,?,?,?,?)",
                      (run_id, case_id, case_kind, category, generator, seed, generation_key, case_hash))

    # -- metric cache ------------------------------------------------------------------------
    def metric_value(self, key: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT status, value, error, details FROM metric_values WHERE key=?",
                                 (key,)).fetchone()
        if row is None:
            return None
        return {"status": row[0], "value": row[1], "error": row[2], "details": json.loads(row[3] or "{}")}

    def put_metric(self, key: str, *, status: str, value: float | None = None, error: str = "",
                   details: dict | None = None,
                   result_row: ResultRow | Mapping[str, Any] | None = None) -> None:
        """Cache a metric value and (in the same transaction) the run's result row pointing at it."""
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO metric_values VALUES (?,?,?,?,?,?)",
                      (key, status, value, error, json.dumps(details or {}, default=_json_default),
                       time.time()))
            if result_row is not None:
                _insert(c, "results", _result_row(result_row))

    def add_result(self, row: ResultRow | Mapping[str, Any]) -> None:
        with self.transaction() as c:
            _insert(c, "results", _result_row(row))

    # -- load stage -----------------------------------------------------------------------
    def put_load(self, row: LoadRow) -> None:
        with self.transaction() as c:
            _insert(c, "loads", row)

    # -- views for reports ------------------------------------------------------------------
    def results(self, run_id: str | None = None) -> pd.DataFrame:
        """The ResultRow columns, then the outcome: status (ok | failed | pending), value (NaN unless
        ok), error, details, failure (item | environment | '')."""
        q = (f"SELECT {', '.join('r.' + c for c in ResultRow.columns())}, "
             "CASE WHEN g.status != 'ok' THEN 'failed' WHEN m.status IS NULL THEN 'pending' "
             "WHEN m.status = 'ok' THEN 'ok' ELSE 'failed' END AS status, "
             "CASE WHEN g.status = 'ok' AND m.status = 'ok' THEN m.value END AS value, "
             "CASE WHEN g.status != 'ok' THEN 'generation failed: ' || g.error ELSE COALESCE(m.error, '') END "
             "AS error, COALESCE(m.details, '{}') AS details, "
             f"CASE WHEN g.status = '{ENV}' OR (g.status = 'ok' AND m.status = '{ENV}') THEN 'environment' "
             "WHEN g.status != 'ok' OR m.status NOT IN ('ok') THEN 'item' ELSE '' END AS failure "
             "FROM results r JOIN generations g ON g.key = r.generation_key "
             "LEFT JOIN metric_values m ON m.key = r.metric_key")
        df = self._query(q, "r", run_id, "r.generator, r.metric, r.case_id, r.seed")
        df["value"] = df["value"].astype(float)
        return df

    def generations(self, run_id: str | None = None) -> pd.DataFrame:
        """One row per run item with its generation status, stage timings and artifact."""
        q = ("SELECT i.run_id, i.case_id, i.case_hash, i.case_kind, i.category, i.generator, i.seed, g.status, g.error, "
             "g.artifact, g.inversion, g.optimization, g.inference, "
             "g.inversion + g.optimization + g.inference AS total, g.peak_memory_bytes, g.key, g.artifact_digest "
             "FROM run_items i JOIN generations g ON g.key = i.generation_key")
        return self._query(q, "i", run_id, "i.generator, i.case_id, i.seed")

    def loads(self, run_id: str | None = None) -> pd.DataFrame:
        """One row per generator × device × shard that loaded (the latest load of each)."""
        q = f"SELECT {', '.join(LoadRow.columns())} FROM loads"
        return self._query(q, "loads", run_id, "generator, device, shard")

    def generation_extras(self, run_id: str) -> dict[str, dict]:
        """generation key -> the extras its generator recorded, for every generation of a run."""
        rows = self._conn.execute("SELECT g.key, g.extras FROM run_items i JOIN generations g "
                                  "ON g.key = i.generation_key WHERE i.run_id = ?", (run_id,))
        return {key: json.loads(extras or "{}") for key, extras in rows}

    def _query(self, query: str, table: str, run_id: str | None, order: str) -> pd.DataFrame:
        """``query`` restricted to one run (when given) and ordered."""
        params: tuple = ()
        if run_id is not None:
            query += f" WHERE {table}.run_id = ?"
            params = (run_id,)
        return pd.read_sql_query(f"{query} ORDER BY {order}", self._conn, params=params)


def _insert(c: sqlite3.Connection, table: str, row: Row) -> None:
    """Insert a typed row (replacing the row of the same key)."""
    cols = row.columns()
    c.execute(f"INSERT OR REPLACE INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
              row.values())


def _result_row(row: ResultRow | Mapping[str, Any]) -> ResultRow:
    """A mapping (fixtures that fill a store without the runner) must hold exactly the fields."""
    return row if isinstance(row, ResultRow) else ResultRow(**row)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    return str(obj)
