"""Embedded SQLite results store.

Tables
- ``runs``: one row per run with its plan and provenance.
- ``generations``: cache of generator outputs keyed by the hash of (case, generator config,
  seed); the frames live in an atomically written artifact file beside the store.
- ``metric_values``: cache of metric values keyed by the hash of (generation key, case,
  metric config incl. backend identity).
- ``results``: one row per run × case × generator × seed × metric pointing at a cached value
  (or carrying the failure reason).

Every write is one committed transaction (WAL journal), so killing the process at any
moment leaves a consistent store; a key that exists is never recomputed.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, created REAL, updated REAL, status TEXT,
    plan TEXT, provenance TEXT);
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY, case_id TEXT, generator TEXT, seed INTEGER, status TEXT, error TEXT,
    artifact TEXT, inversion REAL, optimization REAL, inference REAL, peak_memory_bytes INTEGER,
    extras TEXT, created REAL);
CREATE TABLE IF NOT EXISTS metric_values (
    key TEXT PRIMARY KEY, status TEXT, value REAL, error TEXT, details TEXT, created REAL);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT, case_id TEXT, case_kind TEXT, category TEXT, generator TEXT, generator_config TEXT,
    seed INTEGER, metric TEXT, metric_name TEXT, backend TEXT, metric_config TEXT,
    generation_key TEXT, metric_key TEXT,
    PRIMARY KEY (run_id, case_id, generator, seed, metric));
CREATE TABLE IF NOT EXISTS run_items (
    run_id TEXT, case_id TEXT, case_kind TEXT, category TEXT, generator TEXT, seed INTEGER,
    generation_key TEXT, PRIMARY KEY (run_id, case_id, generator, seed));
"""

STORE_FILENAME = "evalkit.sqlite"


class ResultsStore:
    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path = path / STORE_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.root = path.parent
        self._conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # -- runs ---------------------------------------------------------------------------
    def start_run(self, run_id: str, plan: dict, provenance: dict) -> None:
        now = time.time()
        with self.transaction() as c:
            c.execute("INSERT INTO runs VALUES (?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
                      "updated=excluded.updated, status='running', provenance=excluded.provenance",
                      (run_id, now, now, "running", json.dumps(plan, sort_keys=True), json.dumps(provenance)))

    def finish_run(self, run_id: str, status: str = "complete") -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET status=?, updated=? WHERE run_id=?", (status, time.time(), run_id))

    def runs(self) -> pd.DataFrame:
        df = pd.read_sql_query("SELECT * FROM runs ORDER BY created", self._conn)
        for col in ("plan", "provenance"):
            df[col] = df[col].map(json.loads)
        return df

    def run(self, run_id: str) -> dict[str, Any]:
        row = self._conn.execute("SELECT run_id, created, updated, status, plan, provenance FROM runs "
                                 "WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        return {"run_id": row[0], "created": row[1], "updated": row[2], "status": row[3],
                "plan": json.loads(row[4]), "provenance": json.loads(row[5])}

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
                       peak_memory_bytes: int = 0, extras: dict | None = None) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (key, case_id, generator, seed, status, error, artifact, *timings,
                       int(peak_memory_bytes), json.dumps(extras or {}, default=str), time.time()))

    def add_run_item(self, run_id: str, case_id: str, case_kind: str, category: str, generator: str,
                     seed: int, generation_key: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO run_items VALUES (?,?,?,?,?,?,?)",
                      (run_id, case_id, case_kind, category, generator, seed, generation_key))

    # -- metric cache ------------------------------------------------------------------------
    def metric_value(self, key: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT status, value, error, details FROM metric_values WHERE key=?",
                                 (key,)).fetchone()
        if row is None:
            return None
        return {"status": row[0], "value": row[1], "error": row[2], "details": json.loads(row[3] or "{}")}

    def put_metric(self, key: str, *, status: str, value: float | None = None, error: str = "",
                   details: dict | None = None, result_row: dict[str, Any] | None = None) -> None:
        """Cache a metric value and (in the same transaction) the run's result row pointing at it."""
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO metric_values VALUES (?,?,?,?,?,?)",
                      (key, status, value, error, json.dumps(details or {}, default=_json_default),
                       time.time()))
            if result_row is not None:
                self._insert_result(c, result_row)

    def add_result(self, row: dict[str, Any]) -> None:
        with self.transaction() as c:
            self._insert_result(c, row)

    @staticmethod
    def _insert_result(c: sqlite3.Connection, row: dict[str, Any]) -> None:
        cols = ("run_id", "case_id", "case_kind", "category", "generator", "generator_config", "seed",
                "metric", "metric_name", "backend", "metric_config", "generation_key", "metric_key")
        c.execute(f"INSERT OR REPLACE INTO results ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                  tuple(row[k] for k in cols))

    # -- views for reports ------------------------------------------------------------------
    def results(self, run_id: str | None = None) -> pd.DataFrame:
        """One row per case × generator × seed × metric: value (NaN when failed), status, error."""
        q = ("SELECT r.run_id, r.case_id, r.case_kind, r.category, r.generator, r.generator_config, r.seed, "
             "r.metric, r.metric_name, r.backend, r.metric_config, "
             "CASE WHEN g.status != 'ok' THEN 'failed' ELSE COALESCE(m.status, 'pending') END AS status, "
             "CASE WHEN g.status = 'ok' AND m.status = 'ok' THEN m.value END AS value, "
             "CASE WHEN g.status != 'ok' THEN 'generation failed: ' || g.error ELSE COALESCE(m.error, '') END "
             "AS error, COALESCE(m.details, '{}') AS details, r.generation_key, r.metric_key "
             "FROM results r JOIN generations g ON g.key = r.generation_key "
             "LEFT JOIN metric_values m ON m.key = r.metric_key")
        df = self._query(q, "r", run_id, "r.generator, r.metric, r.case_id, r.seed")
        df["value"] = df["value"].astype(float)
        return df

    def generations(self, run_id: str | None = None) -> pd.DataFrame:
        """One row per run item with its generation status, stage timings and artifact."""
        q = ("SELECT i.run_id, i.case_id, i.case_kind, i.category, i.generator, i.seed, g.status, g.error, "
             "g.artifact, g.inversion, g.optimization, g.inference, "
             "g.inversion + g.optimization + g.inference AS total, g.peak_memory_bytes, g.key "
             "FROM run_items i JOIN generations g ON g.key = i.generation_key")
        return self._query(q, "i", run_id, "i.generator, i.case_id, i.seed")

    def _query(self, query: str, table: str, run_id: str | None, order: str) -> pd.DataFrame:
        """``query`` restricted to one run (when given) and ordered."""
        params: tuple = ()
        if run_id is not None:
            query += f" WHERE {table}.run_id = ?"
            params = (run_id,)
        return pd.read_sql_query(f"{query} ORDER BY {order}", self._conn, params=params)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    return str(obj)
