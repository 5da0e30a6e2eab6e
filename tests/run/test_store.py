"""The results store: one typed result row defines its columns; a schema version guards the file."""
from __future__ import annotations

import dataclasses
import sqlite3

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest

from evalkit.errors import EvalkitError
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.rows import ResultRow
from evalkit.run.runner import run_plan
from evalkit.run.store import STORE_FILENAME, STORE_SCHEMA_VERSION, ResultsStore


def _user_version(path) -> int:
    con = sqlite3.connect(str(path))
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


def test_a_fresh_store_gets_the_current_schema_version(tmp_path):
    ResultsStore(tmp_path).close()
    assert STORE_SCHEMA_VERSION >= 2   # 0: the unversioned layout before the version existed
    assert _user_version(tmp_path / STORE_FILENAME) == STORE_SCHEMA_VERSION
    ResultsStore(tmp_path).close()     # reopening a current store is fine


@pytest.mark.parametrize("found", [0, STORE_SCHEMA_VERSION + 1])
def test_a_store_of_another_version_is_one_clear_error(tmp_path, found):
    path = tmp_path / STORE_FILENAME
    con = sqlite3.connect(str(path))
    con.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY)")   # an existing, older store
    con.execute(f"PRAGMA user_version = {found}")
    con.commit()
    con.close()
    with pytest.raises(EvalkitError) as err:
        ResultsStore(tmp_path)
    msg = str(err.value)
    assert str(path) in msg and f"version {found}" in msg and f"version {STORE_SCHEMA_VERSION}" in msg
    assert "--out" in msg   # what to do
    assert _user_version(path) == found   # the file is left as it was


def test_result_row_defines_the_results_columns(tmp_path):
    fields = [f.name for f in dataclasses.fields(ResultRow)]
    store = ResultsStore(tmp_path)
    try:
        table = store.columns("results")
        assert table == fields
        view = store.results()
        assert list(view.columns[: len(fields)]) == fields
        assert list(view.columns[len(fields):]) == ["status", "value", "error", "details", "failure"]
    finally:
        store.close()


def test_runner_writes_result_rows(tmp_path):
    summary = run_plan(Plan(ComponentSpec("test-squares", {"n": 2}), (ComponentSpec("test-copy"),),
                            (ComponentSpec("test-brightness"),)), tmp_path)
    store = ResultsStore(tmp_path)
    try:
        df = store.results(summary.run_id)
    finally:
        store.close()
    rows = [ResultRow(**{f.name: r[f.name] for f in dataclasses.fields(ResultRow)}) for _, r in df.iterrows()]
    assert [(r.case_id, r.generator, r.metric, r.seed) for r in rows] == [
        ("sq0", "test-copy", "test-brightness", 0), ("sq1", "test-copy", "test-brightness", 0)]
    assert all(r.run_id == summary.run_id and r.case_kind == "motion-transfer" and r.metric_key for r in rows)


def test_a_result_row_is_checked(tmp_path):
    store = ResultsStore(tmp_path)
    try:
        with pytest.raises(TypeError):
            store.add_result({"run_id": "r", "case_id": "c"})   # a partial mapping is not a row
    finally:
        store.close()
