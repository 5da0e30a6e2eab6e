"""Aggregation of a run's results: mean ± S.E.M. per generator × metric column.

Conventions (../shared/docs/metrics.md, "Aggregation"; docs/reports.md):
- Seeds of one case are averaged first, so by default n = number of cases and the S.E.M. is
  over cases, as in every seed table (a multi-shot set is one case).
- ``over="videos"``: every video of a multi-shot set counts once (Motion by Queries Table 3
  prints ± over its 150 videos, not its 30 sets). A metric records one value per shot in
  ``details["per_video"]``; a column none of whose rows has them (a set-level metric such as
  set-consistency) stays over cases and says so; a column where only some have them is an error.
- Boolean metrics (``spec.boolean``) aggregate as the fraction of True videos: each item is 0/1
  (a multi-shot item already holds its fraction of True shots), seeds of a case are averaged like
  any value (no majority vote), so with several seeds the fraction counts every generated video.
- Values are stored raw; ``scale`` carries the metric's ``report_scale`` for display.
- Failed and pending items never enter a mean; they are counted.
- Set-level metrics (``spec.set_level``, e.g. ``fvd``): the column's value is the metric's
  ``set_value`` over the details of the group's successful items (every case and seed), with no
  S.E.M. (NaN) and n = the generated videos it compared (docs/architecture.md).

Every metric fact (direction, boolean, scale) comes from the metric's registered spec.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from ..metrics.base import MEASURES
from ..registry import METRICS, UnknownNameError
from .definitions import parse_config

OVER = ("cases", "videos")


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
    measures: str = "other"          # the spec's group (what the metric measures)
    display: str = ""               # the paper's name for the column (evalkit.report.labels), if any

    @property
    def arrow(self) -> str:
        return "" if self.higher_is_better is None else ("↑" if self.higher_is_better else "↓")

    @property
    def name(self) -> str:
        return self.display or self.column

    @property
    def label(self) -> str:
        """Column header: (display) name, scale note and better-direction arrow."""
        scale = f" ×{self.scale:g}" if self.scale != 1 else ""
        unit = f" [{self.unit}]" if self.unit else ""
        arrow = f" {self.arrow}" if self.arrow else ""
        return f"{self.name}{unit}{scale}{arrow}"


def metric_spec(metric_name: str):
    """The registered MetricSpec of ``metric_name``, or None when this installation lacks it."""
    try:
        return METRICS.get(metric_name).spec
    except UnknownNameError:
        return None


#: position of each MetricSpec.measures group, for reports that group columns
MEASURES_ORDER = {m: i for i, m in enumerate(MEASURES)}


def column_facts(column: str, metric_name: str, display: str = "") -> ColumnFacts:
    spec = metric_spec(metric_name)
    if spec is None:
        return ColumnFacts(column, metric_name, None, False, 1.0, "", "", display=display)
    return ColumnFacts(column, metric_name, bool(spec.higher_is_better), bool(spec.boolean),
                       float(spec.report_scale), spec.unit, spec.reference, spec.measures, display)


def facts_for(results: pd.DataFrame) -> dict[str, ColumnFacts]:
    """ColumnFacts per report column present in ``results`` (in first-seen order), with the
    display names of a ``metric_display`` column (evalkit.report.labels) where there is one."""
    cols = ["metric", "metric_name"] + (["metric_display"] if "metric_display" in results else [])
    pairs = results[cols].drop_duplicates("metric")
    displays = pairs["metric_display"] if "metric_display" in pairs else [""] * len(pairs)
    return {c: column_facts(c, n, d or "") for c, n, d in zip(pairs["metric"], pairs["metric_name"], displays)}


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


def per_video(results: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Successful items with every multi-shot video as its own unit, and the unit of each column.

    A row whose ``details`` has ``per_video`` (one value per shot) becomes one row per shot, with
    case_id ``<case>#<shot>`` (seeds of a shot are still averaged first). Columns: 'videos', or
    'sets' where no row of the column has per-video values (the value is a set-level one).
    """
    ok = results[results["status"] == "ok"]
    rows, units = [], {}
    for column, items in ok.groupby("metric", sort=False):
        details = items["details"] if "details" in items else [None] * len(items)
        shots = [parse_config(d, what=f"details of {column}").get("per_video") for d in details]
        multi = (items["case_kind"] == "multi-shot").to_numpy() if "case_kind" in items else \
            np.zeros(len(items), dtype=bool)
        has = [s is not None for s in shots]
        if not any(has):
            units[column] = "sets" if multi.any() else "videos"
            rows.append(items)
            continue
        lacking = [c for c, h, m in zip(items["case_id"], has, multi) if m and not h]
        if lacking:
            raise EvalkitError(f"{column}: multi-shot case(s) {', '.join(sorted(set(lacking))[:5])} record no "
                               f"details['per_video'] while others do: cannot aggregate over videos")
        units[column] = "videos"
        for (_, row), values in zip(items.iterrows(), shots):
            if values is None:
                rows.append(row.to_frame().T)
                continue
            if not isinstance(values, list) or not values:
                raise EvalkitError(f"{column}: case {row['case_id']}: details['per_video'] must be a non-empty "
                                   f"list of numbers, got {values!r}")
            rows.append(pd.DataFrame([{**row.to_dict(), "case_id": f"{row['case_id']}#{i}", "value": float(v)}
                                      for i, v in enumerate(values)]))
    out = pd.concat(rows, ignore_index=True) if rows else ok.iloc[0:0]
    out["value"] = out["value"].astype(float)
    return out, units


def aggregate(results: pd.DataFrame, by: Iterable[str] = ("generator",), *, over: str = "cases") -> pd.DataFrame:
    """Numeric summary: one row per (by…, metric) with mean, sem, n, unit, n_failed, n_pending, facts.

    ``by`` may include ``category`` (or any results column) for per-category tables; ``over`` is
    the unit of the mean ± S.E.M.: ``cases`` (default) or ``videos`` (see the module doc).
    """
    if over not in OVER:
        raise EvalkitError(f"aggregate over {over!r}: choose one of {', '.join(OVER)}")
    by = list(by)
    facts = facts_for(results) if len(results) else {}
    keys = tuple(by) + ("metric",)
    # what n counts per column: cases, sets (multi-shot cases) or videos
    units = {c: "sets" if (g["case_kind"] == "multi-shot").all() else "cases"
             for c, g in results.groupby("metric", sort=False)} if "case_kind" in results else {}
    values = results
    if over == "videos" and len(results):
        values, per_column = per_video(results)
        units.update(per_column)
    cases = per_case(values, keys)
    rows: list[dict[str, Any]] = []
    for group, items in results.groupby(list(keys), sort=False, dropna=False):
        key: tuple[Any, ...] = group if isinstance(group, tuple) else (group,)
        sel = np.ones(len(cases), dtype=bool)
        for k, v in zip(keys, key):
            sel &= (cases[k] == v).to_numpy()
        vals = cases.loc[sel, "value"].to_numpy(dtype=float)
        f = facts[key[-1]]
        mean, spread, n, unit = (float(vals.mean()) if vals.size else math.nan, sem(vals), int(vals.size),
                                 units.get(key[-1], "cases"))
        spec = metric_spec(f.metric_name)
        if spec is not None and spec.set_level:
            mean, spread, n, unit = set_statistic(f.metric_name, items)
        rows.append({**dict(zip(keys, key)),
                     "mean": mean, "sem": spread, "n": n, "unit": unit,
                     "n_items": int(len(items)),
                     "n_failed": int((items["status"] == "failed").sum()),
                     "n_pending": int((items["status"] == "pending").sum()),
                     "metric_name": f.metric_name, "higher_is_better": f.higher_is_better,
                     "boolean": f.boolean, "scale": f.scale})
    cols = list(keys) + ["mean", "sem", "n", "unit", "n_items", "n_failed", "n_pending", "metric_name",
                         "higher_is_better", "boolean", "scale"]
    return pd.DataFrame(rows, columns=cols)


def set_statistic(metric_name: str, items: pd.DataFrame) -> tuple[float, float, int, str]:
    """(value, NaN, generated videos, "videos") of a set-level metric over ``items``' successful
    rows; no value (NaN, n = 0) where the set is too small to have one."""
    ok = items[items["status"] == "ok"]
    details = [parse_config(d, what=f"details of {metric_name}") for d in ok["details"]] if "details" in ok else []
    try:
        stat = METRICS.get(metric_name).set_value(details)
    except EvalkitError:
        return math.nan, math.nan, 0, "videos"
    return float(stat["value"]), math.nan, int(stat["generated"]), "videos"


def item_key(results: pd.DataFrame) -> pd.Series:
    """What identifies an item across runs: the case's content hash (its id where a row has
    none, e.g. an old baseline) and the seed."""
    cases = results["case_id"].astype(str)
    if "case_hash" in results:
        hashed = results["case_hash"].fillna("").astype(str)
        cases = hashed.where(hashed != "", cases)
    return pd.Series(list(zip(cases, results["seed"])), index=results.index, dtype=object)


def measured_items(results: pd.DataFrame, by: Iterable[str]) -> dict[tuple, frozenset]:
    """(by…) -> the set of items (case, seed) that succeeded."""
    by = list(by)
    ok = results[results["status"] == "ok"]
    items = item_key(ok)
    return {(k if isinstance(k, tuple) else (k,)): frozenset(items.loc[g.index])
            for k, g in ok.groupby(by, sort=False, dropna=False)} if len(ok) else {}


def reference_items(sets: Iterable[frozenset]) -> frozenset:
    """The item set most rows share (ties: the larger set, then the first seen): ranks compare
    only rows measured on exactly these items."""
    sets = [s for s in sets if s]
    if not sets:
        return frozenset()
    counts: dict[frozenset, int] = {}
    for s in sets:
        counts[s] = counts.get(s, 0) + 1
    return max(counts, key=lambda s: (counts[s], len(s), -sets.index(s)))


def decimals_for(scaled_values: Iterable[float]) -> int:
    """Digits after the point for a column: 1 for values ≥ 10 (×100 tables), 2 for values > 1
    (seconds), 3 for fractions and cosines (≤ 1)."""
    vals = [abs(v) for v in scaled_values if v == v]
    top = max(vals) if vals else 0.0
    return 1 if top >= 10 else 2 if top > 1 else 3
