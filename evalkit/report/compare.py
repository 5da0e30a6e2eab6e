"""Regression tracking between two runs (or a release baseline and a run).

Results are paired by (case_id, generator, seed, metric); per generator × metric column the
report gives the mean difference B − A, a paired bootstrap confidence interval of it (fixed
seed) and a paired test (Wilcoxon signed-rank, or paired t). A regression is a difference
whose whole interval lies beyond the tolerance on the metric's bad side
(../shared/docs/metrics.md, "Aggregation"); the better direction comes from the metric's spec. Stage timings of the
generations are compared the same way (lower is better).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from .aggregate import column_facts
from .definitions import config_key
from .markup import Grid, to_markdown
from .sources import RunData

PAIR_KEYS = ["case_id", "generator", "seed"]
RUNTIME_STAGES = ("inversion", "optimization", "inference", "total")


@dataclass(frozen=True)
class CompareSettings:
    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0                      # bootstrap RNG seed: the same inputs give the same interval
    test: Literal["wilcoxon", "t"] = "wilcoxon"
    tolerance: float = 0.0             # absolute, raw metric units
    rel_tolerance: float = 0.01        # fraction of |mean A|; the larger of the two applies
    runtime_rel_tolerance: float = 0.10
    runtime_min_seconds: float = 0.5   # timing differences below this are noise, never flagged


def bootstrap_ci(diffs: np.ndarray, *, resamples: int = 10_000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the mean of paired differences, resampling pairs with replacement."""
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return math.nan, math.nan
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // d.size)  # bound memory: chunk × n indices at a time
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))
        means[start:stop] = d[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_test(diffs: np.ndarray, test: str = "wilcoxon") -> float:
    """Two-sided p-value that the paired differences are centred on zero (1.0 when all are 0)."""
    d = np.asarray(diffs, dtype=float)
    if d.size < 2 or np.all(d == 0):
        return 1.0
    if test == "t":
        if np.all(d == d[0]):
            return 0.0
        return float(stats.ttest_1samp(d, 0.0).pvalue)
    return float(stats.wilcoxon(d, zero_method="wilcox").pvalue)


def _verdict(diff_lo: float, diff_hi: float, higher_is_better: bool | None, tol: float) -> str:
    if higher_is_better is None or diff_lo != diff_lo:
        return "n/a"
    bad_lo, bad_hi = (-diff_hi, -diff_lo) if higher_is_better else (diff_lo, diff_hi)
    # bad_* are the interval of the change in the bad direction (positive = worse)
    if bad_lo > tol:
        return "REGRESSION"
    if bad_hi < -tol:
        return "improved"
    return "same"


def _row(gen: str, column: str, a: np.ndarray, b: np.ndarray, hib: bool | None, tol_abs: float,
         tol_rel: float, s: CompareSettings, **extra) -> dict:
    d = b - a
    lo, hi = bootstrap_ci(d, resamples=s.resamples, confidence=s.confidence, seed=s.seed)
    mean_a = float(a.mean()) if a.size else math.nan
    tol = max(tol_abs, tol_rel * abs(mean_a)) if a.size else tol_abs
    return {"generator": gen, "metric": column, "n_pairs": int(d.size), "mean_a": mean_a,
            "mean_b": float(b.mean()) if b.size else math.nan,
            "diff": float(d.mean()) if d.size else math.nan, "ci_low": lo, "ci_high": hi,
            "p_value": paired_test(d, s.test) if d.size else math.nan, "tolerance": tol,
            "higher_is_better": hib, "verdict": _verdict(lo, hi, hib, tol) if d.size else "n/a",
            **extra}


def compare_results(a: pd.DataFrame, b: pd.DataFrame, settings: CompareSettings | None = None) -> pd.DataFrame:
    """One row per generator × metric column with the paired difference and the verdict.

    Columns whose metric definition (metric_config) differs between the runs are reported as
    'incomparable' with the reason, never compared.
    """
    s = settings or CompareSettings()
    rows = []
    keys = PAIR_KEYS + ["metric"]
    cols = keys + ["metric_name", "metric_config", "status", "value"]
    merged = a[cols].merge(b[cols], on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    for (gen, column), g in merged.groupby(["generator", "metric"], sort=True):
        name = g["metric_name_a"].dropna().iloc[0] if g["metric_name_a"].notna().any() \
            else g["metric_name_b"].dropna().iloc[0]
        facts = column_facts(column, name)
        both = g[g["_merge"] == "both"]
        only_a = int((g["_merge"] == "left_only").sum())
        only_b = int((g["_merge"] == "right_only").sum())
        cfg_a = set(both["metric_config_a"].map(config_key))
        cfg_b = set(both["metric_config_b"].map(config_key))
        extra = {"only_a": only_a, "only_b": only_b,
                 "failed_a": int((g["status_a"] == "failed").sum()),
                 "failed_b": int((g["status_b"] == "failed").sum())}
        if cfg_a != cfg_b:
            rows.append({"generator": gen, "metric": column, "n_pairs": 0, "verdict": "incomparable",
                         "higher_is_better": facts.higher_is_better,
                         "reason": f"metric definition differs: {sorted(cfg_a)} vs {sorted(cfg_b)}", **extra})
            continue
        ok = both[(both["status_a"] == "ok") & (both["status_b"] == "ok")]
        row = _row(gen, column, ok["value_a"].to_numpy(float), ok["value_b"].to_numpy(float),
                   facts.higher_is_better, s.tolerance, s.rel_tolerance, s, **extra)
        reasons = []
        if extra["failed_b"] > extra["failed_a"]:
            # more failures in B is a regression on its own: items that used to work do not
            row["verdict"] = "REGRESSION"
            reasons.append(f"{extra['failed_b'] - extra['failed_a']} more failed items in B")
        if only_a or only_b:
            reasons.append(f"unpaired items: {only_a} only in A, {only_b} only in B")
            if row["n_pairs"] == 0 and row["verdict"] != "REGRESSION":
                row["verdict"] = "missing in B" if only_a and not only_b else \
                    "new in B" if only_b and not only_a else "unpaired"
        if facts.higher_is_better is None:
            reasons.append("metric not registered here: direction unknown")
        row["reason"] = "; ".join(reasons)
        rows.append(row)
    return pd.DataFrame(rows, columns=_COLUMNS)


def compare_runtime(a: pd.DataFrame, b: pd.DataFrame, settings: CompareSettings | None = None) -> pd.DataFrame:
    """Stage timings (seconds, lower is better) paired by case × generator × seed."""
    s = settings or CompareSettings()
    if a.empty or b.empty or "total" not in a or "total" not in b:
        return pd.DataFrame(columns=_COLUMNS)
    a = a[a["status"] == "ok"]
    b = b[b["status"] == "ok"]
    merged = a.merge(b, on=PAIR_KEYS, suffixes=("_a", "_b"))
    rows = []
    for gen, g in merged.groupby("generator", sort=True):
        for stage in RUNTIME_STAGES:
            va, vb = g[f"{stage}_a"].to_numpy(float), g[f"{stage}_b"].to_numpy(float)
            if not (np.any(va) or np.any(vb)):
                continue  # stage unused by this generator
            row = _row(gen, f"runtime:{stage}", va, vb, False, s.runtime_min_seconds,
                       s.runtime_rel_tolerance, s, only_a=0, only_b=0, failed_a=0, failed_b=0)
            row["reason"] = "seconds"
            rows.append(row)
    return pd.DataFrame(rows, columns=_COLUMNS)


_COLUMNS = ["generator", "metric", "n_pairs", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_value",
            "tolerance", "higher_is_better", "verdict", "only_a", "only_b", "failed_a", "failed_b", "reason"]


@dataclass
class Comparison:
    a: RunData
    b: RunData
    metrics: pd.DataFrame
    runtime: pd.DataFrame
    settings: CompareSettings

    @property
    def table(self) -> pd.DataFrame:
        return pd.concat([self.metrics, self.runtime], ignore_index=True)

    @property
    def regressions(self) -> pd.DataFrame:
        t = self.table
        return t[t["verdict"] == "REGRESSION"]

    @property
    def has_regression(self) -> bool:
        return not self.regressions.empty

    def setup_differences(self) -> list[str]:
        """Provenance fields that differ between A and B (device, packages, commit, ...)."""
        pa, pb = self.a.provenance, self.b.provenance
        out = []
        for k in sorted(set(pa) | set(pb)):
            if k == "packages" and isinstance(pa.get(k), dict) and isinstance(pb.get(k), dict):
                for pkg in sorted(set(pa[k]) | set(pb[k])):
                    if pa[k].get(pkg) != pb[k].get(pkg):
                        out.append(f"package {pkg}: {pa[k].get(pkg)} -> {pb[k].get(pkg)}")
            elif pa.get(k) != pb.get(k):
                out.append(f"{k}: {pa.get(k)} -> {pb.get(k)}")
        return out

    def grid(self) -> Grid:
        rows = []
        for r in self.table.itertuples(index=False):
            arrow = "" if r.higher_is_better is None or r.higher_is_better != r.higher_is_better else \
                (" ↑" if r.higher_is_better else " ↓")
            ci = "" if r.ci_low is None or r.ci_low != r.ci_low else f"[{_g(r.ci_low)}, {_g(r.ci_high)}]"
            rows.append((r.generator, f"{r.metric}{arrow}", str(r.n_pairs), _g(r.mean_a), _g(r.mean_b),
                         _g(r.diff, sign=True), ci, _g(r.p_value),
                         "**REGRESSION**" if r.verdict == "REGRESSION" else r.verdict, r.reason or ""))
        return Grid(("generator", "metric", "n", "A", "B", "B − A", "CI", "p", "verdict", "note"), tuple(rows),
                    keys=2, align=tuple("llrrrrlrll"))

    def to_markdown(self) -> str:
        s = self.settings
        lines = [f"# Comparison: A = {self.a.label}, B = {self.b.label}", "",
                 f"Paired by case × generator × seed; difference B − A with a {s.confidence:.0%} paired bootstrap "
                 f"CI ({s.resamples} resamples, seed {s.seed}) and a "
                 f"{'Wilcoxon signed-rank' if s.test == 'wilcoxon' else 'paired t'} test. "
                 "A regression: the CI lies beyond the tolerance on the bad side.", "",
                 to_markdown(self.grid()).rstrip("\n")]
        diffs = self.setup_differences()
        if diffs:
            lines += ["", "Setup differences (provenance):"] + [f"- {d}" for d in diffs]
        n = len(self.regressions)
        lines += ["", f"{n} regression(s) flagged." if n else "No regression."]
        return "\n".join(lines) + "\n"


def _g(x, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return ""
    return f"{x:+.4g}" if sign else f"{x:.4g}"


def compare_runs(a: RunData, b: RunData, settings: CompareSettings | None = None) -> Comparison:
    s = settings or CompareSettings()
    return Comparison(a, b, compare_results(a.results, b.results, s),
                      compare_runtime(a.generations, b.generations, s), s)
