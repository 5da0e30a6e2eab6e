"""Aggregation of a run's results: mean ± S.E.M. over cases per generator × metric column.

Conventions (docs/metrics.md, "Aggregation"):
- Seeds of one case are averaged first, so n = number of cases and the S.E.M. is over cases,
  as in every seed table.
- Boolean metrics (``spec.boolean``) aggregate as the fraction of True items.
- Values are stored raw; ``scale`` carries the metric's ``report_scale`` for display.
- Failed and pending items never enter a mean; they are counted.

Every metric fact (direction, boolean, scale) comes from the metric's registered spec.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..registry import METRICS, UnknownNameError


@dataclass(frozen=True)
class ColumnFacts:
    """What a report needs to know about one metric column (read from the spec)."""
    column: str
    metric_name: str
    higher_is_better: bool | None   # None: metric unknown to this installation
    boolean: bool
    scale: float
    unit: str
    reference: str

    @property
    def arrow(self) -> str:
        return "" if self.higher_is_better is None else ("↑" if self.higher_is_better else "↓")

    @property
    def label(self) -> str:
        """Column header: name, scale note and better-direction arrow."""
        scale = f" ×{self.scale:g}" if self.scale != 1 else ""
        unit = f" [{self.unit}]" if self.unit else ""
        arrow = f" {self.arrow}" if self.arrow else ""
        return f"{self.column}{unit}{scale}{arrow}"


def metric_spec(metric_name: str):
    """The registered MetricSpec of ``metric_name``, or None when this installation lacks it."""
    try:
        return METRICS.get(metric_name).spec
    except UnknownNameError:
        return None


def column_facts(column: str, metric_name: str) -> ColumnFacts:
    spec = metric_spec(metric_name)
    if spec is None:
        return ColumnFacts(column, metric_name, None, False, 1.0, "", "")
    return ColumnFacts(column, metric_name, bool(spec.higher_is_better), bool(spec.boolean),
                       float(spec.report_scale), spec.unit, spec.reference)


def facts_for(results: pd.DataFrame) -> dict[str, ColumnFacts]:
    """ColumnFacts per report column present in ``results`` (in first-seen order)."""
    pairs = results[["metric", "metric_name"]].drop_duplicates("metric")
    return {c: column_facts(c, n) for c, n in zip(pairs["metric"], pairs["metric_name"])}


def sem(values: Iterable[float]) -> float:
    """Standard error of the mean (sample std, ddof=1); 0 for a single value."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan
    if v.size == 1:
        return 0.0
    return float(v.std(ddof=1) / math.sqrt(v.size))


def per_case(results: pd.DataFrame, keys: tuple[str, ...] = ("generator", "metric")) -> pd.DataFrame:
    """One value per (keys…, case_id): the mean over seeds of the items that succeeded."""
    ok = results[results["status"] == "ok"]
    group = list(keys) + ["case_id"]
    return ok.groupby(group, sort=False, dropna=False)["value"].mean().reset_index()


def aggregate(results: pd.DataFrame, by: Iterable[str] = ("generator",)) -> pd.DataFrame:
    """Numeric summary: one row per (by…, metric) with mean, sem, n, n_failed, n_pending, facts.

    ``by`` may include ``category`` (or any results column) for per-category tables.
    """
    by = list(by)
    facts = facts_for(results) if len(results) else {}
    keys = tuple(by) + ("metric",)
    cases = per_case(results, keys)
    rows: list[dict[str, Any]] = []
    for key, items in results.groupby(list(keys), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        sel = np.ones(len(cases), dtype=bool)
        for k, v in zip(keys, key):
            sel &= (cases[k] == v).to_numpy()
        vals = cases.loc[sel, "value"].to_numpy(dtype=float)
        f = facts[key[-1]]
        if f.boolean:
            vals = (vals > 0.5).astype(float)
        rows.append({**dict(zip(keys, key)),
                     "mean": float(vals.mean()) if vals.size else math.nan,
                     "sem": sem(vals), "n": int(vals.size),
                     "n_items": int(len(items)),
                     "n_failed": int((items["status"] == "failed").sum()),
                     "n_pending": int((items["status"] == "pending").sum()),
                     "metric_name": f.metric_name, "higher_is_better": f.higher_is_better,
                     "boolean": f.boolean, "scale": f.scale})
    cols = list(keys) + ["mean", "sem", "n", "n_items", "n_failed", "n_pending", "metric_name",
                         "higher_is_better", "boolean", "scale"]
    return pd.DataFrame(rows, columns=cols)


def decimals_for(scaled_values: Iterable[float]) -> int:
    """Digits after the point for a column: 1 for values ≥ 10 (×100 tables), 2 for values > 1
    (seconds), 3 for fractions and cosines (≤ 1)."""
    vals = [abs(v) for v in scaled_values if v == v]
    top = max(vals) if vals else 0.0
    return 1 if top >= 10 else 2 if top > 1 else 3


def metric_configs(results: pd.DataFrame) -> dict[str, dict]:
    """Column -> its metric_config (first seen); used for footnotes and comparability checks."""
    out: dict[str, dict] = {}
    for col, cfg in results[["metric", "metric_config"]].drop_duplicates("metric").itertuples(index=False):
        out[col] = json.loads(cfg) if isinstance(cfg, str) and cfg else (cfg or {})
    return out
