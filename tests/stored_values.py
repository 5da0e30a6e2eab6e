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
