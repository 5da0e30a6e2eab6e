"""Regression tracking between two runs (or a release baseline and a run).

Items are matched by the case's content hash (a case whose content changed under the same id
is never paired: it is counted and listed), generator, seed and metric column. Seeds of a case
are averaged first, so the unit of the comparison is the case, as in every seed table (seeds
of one case are not independent samples). Per generator × metric column the report gives the
mean difference B − A over cases, a paired bootstrap confidence interval of it (cases resampled,
fixed seed) and a paired test (Wilcoxon signed-rank, or paired t). A regression needs both: the
whole interval beyond the tolerance on the metric's bad side (../shared/docs/metrics.md,
"Aggregation") and p below 1 − confidence; one without the other is ``inconclusive``. Fewer
than ``min_cases`` paired cases are warned about. When the test cannot reach p < 1 − confidence
at all (a two-sided exact Wilcoxon test needs 6 pairs for p < 0.05: its smallest p is 2/2^n),
the verdict follows the interval alone and the row says so: a 27-point drop over 5 cases with
its whole interval below zero is a regression, not "inconclusive". Stage timings are compared
the same way (lower is better). Every difference between the two runs' dataset, generator and
metric configurations and provenance is listed.

As a CI gate (``evalkit compare``), two runs that share fewer than ``min_shared`` cases
(default 1: none at all) are an error, not "No regression" (:func:`shared_cases`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from .aggregate import column_facts, item_key
from .definitions import Definition, config_key, parse_config
from .markup import STRONG, Grid, bullet_list, markdown_escape, to_markdown
from .paired_stats import bootstrap_ci, paired_test, smallest_p  # noqa: F401 (bootstrap_ci, paired_test re-exported)
from .rows import rows_of
from .sources import RunData

PAIR_KEYS = ["case", "generator", "seed"]   # case: content hash (its id where none is recorded)
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
    min_cases: int = 10                # fewer paired cases: warned about (the test has little power)

    def __post_init__(self) -> None:
        """Every value checked: a NaN or negative tolerance would silently pass every change."""
        def finite(name: str, low: float, high: float = math.inf, low_open: bool = False) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < low or v > high or (low_open and v == low):
                bound = f"{'>' if low_open else '≥'} {low:g}" + (f" and ≤ {high:g}" if high != math.inf else "")
                raise EvalkitError(f"{name.replace('_', '-')} {v!r}: must be a finite number {bound}")

        for name in ("tolerance", "rel_tolerance", "runtime_rel_tolerance", "runtime_min_seconds"):
            finite(name, 0.0)
        finite("confidence", 0.0, 1.0, low_open=True)
        if self.confidence == 1.0:
            raise EvalkitError("confidence 1: must be below 1")
        for name in ("resamples", "min_cases"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise EvalkitError(f"{name.replace('_', '-')} {v!r}: must be a whole number ≥ 1")
        if self.test not in ("wilcoxon", "t"):
            raise EvalkitError(f"test {self.test!r}: must be wilcoxon or t")

    @property
    def alpha(self) -> float:
        return 1 - self.confidence


def _verdict(diff_lo: float, diff_hi: float, higher_is_better: bool | None, tol: float) -> str:
    """What the interval alone says (the test must agree for a verdict: see _row)."""
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
    """``a``, ``b``: one value per paired case (seeds averaged)."""
    d = b - a
    lo, hi = bootstrap_ci(d, resamples=s.resamples, confidence=s.confidence, seed=s.seed)
    mean_a = float(a.mean()) if a.size else math.nan
    tol = max(tol_abs, tol_rel * abs(mean_a)) if a.size else tol_abs
    p = paired_test(d, s.test) if d.size else math.nan
    verdict = _verdict(lo, hi, hib, tol) if d.size else "n/a"
    notes = []
    undecidable = d.size > 0 and not smallest_p(d.size, s.test) < s.alpha
    if verdict in ("REGRESSION", "improved") and not p < s.alpha:
        if undecidable:   # the test cannot decide at this n: the interval alone decides, said so
            notes.append(f"verdict from the interval alone: with {d.size} paired case(s) the "
                         f"{'Wilcoxon' if s.test == 'wilcoxon' else 't'} test cannot reach p < {s.alpha:g}")
        else:
            notes.append(f"interval beyond the tolerance but p = {p:.3g} ≥ {s.alpha:g}: inconclusive")
            verdict = "inconclusive"
    if 0 < d.size < s.min_cases:
        notes.append(f"small n: {d.size} paired cases (< {s.min_cases})")
    return {"generator": gen, "metric": column, "n_pairs": int(d.size), "mean_a": mean_a,
            "mean_b": float(b.mean()) if b.size else math.nan,
            "diff": float(d.mean()) if d.size else math.nan, "ci_low": lo, "ci_high": hi,
            "p_value": p, "tolerance": tol, "higher_is_better": hib, "verdict": verdict,
            "notes": notes, **extra}


def _keyed(results: pd.DataFrame) -> pd.DataFrame:
    out = results.copy()
    out["case"] = [k[0] for k in item_key(results)] if len(results) else pd.Series(dtype=str)
    return out


def _changed_cases(a: pd.DataFrame, b: pd.DataFrame) -> set[str]:
    """Case ids present in both runs whose content hash differs (a changed dataset variant)."""
    ha = dict(zip(a["case_id"], a["case"]))
    hb = dict(zip(b["case_id"], b["case"]))
    return {c for c in set(ha) & set(hb) if ha[c] != hb[c]}


def per_case(frame: pd.DataFrame, value: str) -> pd.Series:
    """Mean over seeds per case of a paired frame (the unit of the comparison)."""
    return frame.groupby("case", sort=True)[value].mean()


def compare_results(a: pd.DataFrame, b: pd.DataFrame, settings: CompareSettings | None = None) -> pd.DataFrame:
    """One row per generator × metric column with the paired difference and the verdict.

    Columns whose metric definition (metric_config) differs between the runs are reported as
    'incomparable' with every differing field, never compared.
    """
    s = settings or CompareSettings()
    a, b = _keyed(a), _keyed(b)
    changed = _changed_cases(a, b)
    rows = []
    keys = PAIR_KEYS + ["metric"]
    cols = keys + ["case_id", "metric_name", "metric_config", "status", "value"]
    merged = a[cols].merge(b[cols], on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    for (gen, column), g in merged.groupby(["generator", "metric"], sort=True):
        name = g["metric_name_a"].dropna().iloc[0] if g["metric_name_a"].notna().any() \
            else g["metric_name_b"].dropna().iloc[0]
        facts = column_facts(column, name)
        both = g[g["_merge"] == "both"]
        ids = g["case_id_a"].fillna(g["case_id_b"])
        moved = ids.isin(changed) & (g["_merge"] != "both")
        only_a = int(((g["_merge"] == "left_only") & ~moved).sum())
        only_b = int(((g["_merge"] == "right_only") & ~moved).sum())
        extra = {"only_a": only_a, "only_b": only_b,
                 "failed_a": int((g["status_a"] == "failed").sum()),
                 "failed_b": int((g["status_b"] == "failed").sum())}
        cfg_a = set(both["metric_config_a"].map(config_key))
        cfg_b = set(both["metric_config_b"].map(config_key))
        if cfg_a != cfg_b:
            changes = [c for x in cfg_a for y in cfg_b for c in Definition.of(x).changes(Definition.of(y))]
            rows.append({"generator": gen, "metric": column, "n_pairs": 0, "verdict": "incomparable",
                         "higher_is_better": facts.higher_is_better,
                         "reason": f"metric definition differs: {', '.join(dict.fromkeys(changes))}", **extra})
            continue
        ok = both[(both["status_a"] == "ok") & (both["status_b"] == "ok")]
        va, vb = per_case(ok, "value_a"), per_case(ok, "value_b")
        row = _row(gen, column, va.to_numpy(float), vb.to_numpy(float), facts.higher_is_better,
                   s.tolerance, s.rel_tolerance, s, **extra)
        reasons = []
        if extra["failed_b"] > extra["failed_a"]:
            # more failures in B is a regression on its own: items that used to work do not
            row["verdict"] = "REGRESSION"
            reasons.append(f"{extra['failed_b'] - extra['failed_a']} more failed items in B")
        if moved.any():
            reasons.append(f"{int((moved & (g['_merge'] == 'left_only')).sum())} items of {ids[moved].nunique()} "
                           f"case(s) whose content changed under the same id: not compared")
            if row["n_pairs"] == 0 and row["verdict"] != "REGRESSION":
                row["verdict"] = "incomparable"
        if only_a or only_b:
            reasons.append(f"unpaired items: {only_a} only in A, {only_b} only in B")
            if row["n_pairs"] == 0 and row["verdict"] not in ("REGRESSION", "incomparable"):
                row["verdict"] = "missing in B" if only_a and not only_b else \
                    "new in B" if only_b and not only_a else "unpaired"
        if facts.higher_is_better is None:
            reasons.append("metric not registered here: direction unknown")
        row["reason"] = "; ".join(reasons + row.pop("notes"))
        rows.append(row)
    return pd.DataFrame(rows, columns=_COLUMNS)


def compare_runtime(a: pd.DataFrame, b: pd.DataFrame, settings: CompareSettings | None = None) -> pd.DataFrame:
    """Stage timings (seconds, lower is better) paired by case × generator × seed, seeds averaged."""
    s = settings or CompareSettings()
    if a.empty or b.empty or "total" not in a or "total" not in b:
        return pd.DataFrame(columns=_COLUMNS)
    a, b = _keyed(a[a["status"] == "ok"]), _keyed(b[b["status"] == "ok"])
    merged = a.merge(b, on=PAIR_KEYS, suffixes=("_a", "_b"))
    rows = []
    for gen, g in merged.groupby("generator", sort=True):
        for stage in RUNTIME_STAGES:
            va, vb = per_case(g, f"{stage}_a").to_numpy(float), per_case(g, f"{stage}_b").to_numpy(float)
            if not (np.any(va) or np.any(vb)):
                continue  # stage unused by this generator
            row = _row(gen, f"runtime:{stage}", va, vb, False, s.runtime_min_seconds,
                       s.runtime_rel_tolerance, s, only_a=0, only_b=0, failed_a=0, failed_b=0)
            row["reason"] = "; ".join(["seconds"] + row.pop("notes"))
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

    def configuration_differences(self) -> list[str]:
        """Every difference of the dataset, case set, generator and metric configurations."""
        out = _mapping_changes("dataset", self.a.plan.get("dataset"), self.b.plan.get("dataset"))
        ka, kb = _keyed(self.a.results), _keyed(self.b.results)
        if not len(ka) or not len(kb):
            return out
        ca, cb = set(ka["case"]), set(kb["case"])
        changed = _changed_cases(ka, kb)
        if ca != cb:
            out.append(f"cases (matched by content hash): {len(ca & cb)} shared, {len(changed)} changed content "
                       f"under the same id, {len(ca - cb) - len(changed)} only in A, {len(cb - ca) - len(changed)} "
                       f"only in B")
        if "case_hash" not in self.a.results or "case_hash" not in self.b.results:
            out.append("a run records no case content hashes (an older baseline): its items are matched by case id")
        for what, col in (("generator", "generator_config"), ("metric", "metric_config")):
            key = "generator" if what == "generator" else "metric"
            da = dict(zip(ka[key], ka[col]))
            db = dict(zip(kb[key], kb[col]))
            for label in sorted(set(da) & set(db)):
                out += _mapping_changes(f"{what} {label}", parse_config(da[label]), parse_config(db[label]))
            out += [f"{what} {label}: only in A" for label in sorted(set(da) - set(db))]
            out += [f"{what} {label}: only in B" for label in sorted(set(db) - set(da))]
        return out

    def grid(self) -> Grid:
        rows = []
        for r in rows_of(self.table):
            arrow = "" if r.higher_is_better is None or r.higher_is_better != r.higher_is_better else \
                (" ↑" if r.higher_is_better else " ↓")
            ci = "" if r.ci_low is None or r.ci_low != r.ci_low else f"[{_g(r.ci_low)}, {_g(r.ci_high)}]"
            rows.append((r.generator, f"{r.metric}{arrow}", str(r.n_pairs), _g(r.mean_a), _g(r.mean_b),
                         _g(r.diff, sign=True), ci, _g(r.p_value),
                         r.verdict, r.reason or ""))
        marks = {(i, 8): STRONG for i, r in enumerate(rows_of(self.table)) if r.verdict == "REGRESSION"}
        return Grid(("generator", "metric", "n", "A", "B", "B − A", "CI", "p", "verdict", "note"), tuple(rows),
                    keys=2, align=tuple("llrrrrlrll"), marks=marks)

    def to_markdown(self) -> str:
        s = self.settings
        lines = [f"# {markdown_escape(f'Comparison: A = {self.a.label}, B = {self.b.label}')}", "",
                 f"Items matched by case content hash × generator × seed; seeds of a case averaged, n = paired "
                 f"cases; difference B − A with a {s.confidence:.0%} paired bootstrap CI over cases "
                 f"({s.resamples} resamples, seed {s.seed}) and a "
                 f"{'Wilcoxon signed-rank' if s.test == 'wilcoxon' else 'paired t'} test. A regression: the CI "
                 f"lies beyond the tolerance on the bad side and p < {s.alpha:g}; either alone is inconclusive.", "",
                 to_markdown(self.grid()).rstrip("\n")]
        small = sorted(set(self.table.loc[(self.table["n_pairs"] > 0) & (self.table["n_pairs"] < s.min_cases),
                                          "n_pairs"].astype(int)))
        if small:
            lines += ["", f"**Warning: small n** ({', '.join(map(str, small))} paired cases in some rows, fewer than "
                          f"{s.min_cases}): intervals are wide and the test has little power."]
        for title, diffs in (("Configuration differences (A vs B):", self.configuration_differences()),
                             ("Setup differences (provenance):", self.setup_differences())):
            lines += bullet_list(title, diffs)
        n = len(self.regressions)
        lines += ["", f"{n} regression(s) flagged." if n else "No regression."]
        return "\n".join(lines) + "\n"


def _mapping_changes(what: str, a, b) -> list[str]:
    """'what: key a -> b' for every key whose value differs (whole values when not mappings)."""
    if a == b:
        return []
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [f"{what}: {a!r} -> {b!r}"]
    return [f"{what}: {k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _g(x, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return ""
    return f"{x:+.4g}" if sign else f"{x:.4g}"


def shared_cases(a: RunData, b: RunData) -> int:
    """How many cases (by content hash) both runs hold results of: what a comparison can pair."""
    ka, kb = _keyed(a.results), _keyed(b.results)
    if not len(ka) or not len(kb):
        return 0
    return len(set(ka["case"]) & set(kb["case"]))


def compare_runs(a: RunData, b: RunData, settings: CompareSettings | None = None) -> Comparison:
    s = settings or CompareSettings()
    return Comparison(a, b, compare_results(a.results, b.results, s),
                      compare_runtime(a.generations, b.generations, s), s)
