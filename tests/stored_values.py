"""A run's stored metric values, indexed by (case, generator, metric): what equal runs must share."""
from __future__ import annotations

import pandas as pd

from evalkit.run.store import ResultsStore


def stored_values(out, run_id) -> pd.Series:
    store = ResultsStore(out, readonly=True)
    try:
        df = store.results(run_id)
    finally:
        store.close()
    return df.set_index(["case_id", "generator", "metric"])["value"].sort_index()
