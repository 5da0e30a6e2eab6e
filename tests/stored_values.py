"""What a store holds for a run, read the way reports read it (read-only): its result rows, and
its metric values indexed by (case, generator, metric), what equal runs must share."""
from __future__ import annotations

import pandas as pd

from evalkit.run.store import ResultsStore


def stored_results(out, run_id=None) -> pd.DataFrame:
    """The result rows of ``run_id`` (None: every run)."""
    store = ResultsStore(out, readonly=True)
    try:
        return store.results(run_id)
    finally:
        store.close()


def stored_values(out, run_id) -> pd.Series:
    return stored_results(out, run_id).set_index(["case_id", "generator", "metric"])["value"].sort_index()


def statuses_and_values(out, run_id, keys=("generator", "case_id", "metric")) -> dict:
    """``{(key values...): (status, value)}`` of a run's result rows: what two runs that must agree
    item by item are compared on."""
    df = stored_results(out, run_id)
    return {tuple(row[:-2]): (row[-2], row[-1]) for row in df[[*keys, "status", "value"]].itertuples(index=False)}
