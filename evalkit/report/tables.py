"""Seed tables: generators × metric columns of "mean ± S.E.M." cells.

``summary_table(results)`` builds a :class:`SummaryTable` from a results frame
(``RunData.results``): the cell strings, the numbers behind them (with per-column rank), the
column facts and the footnotes. ``render_*`` write it (or a raw results frame) as Markdown,
CSV, LaTeX (booktabs; best in bold, second underlined, as DiTFlow Table 1) or an HTML fragment,
through the one table writer (:mod:`evalkit.report.markup`). Column headers carry the report
scale and the better-direction arrow; a footnote per column names the metric's backend,
checkpoint, version and non-default options, and the last footnote the unit of the mean ± S.E.M.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from .aggregate import ColumnFacts, aggregate, decimals_for, facts_for, measured_items, reference_items
from .definitions import Definition
from .markup import BEST, SECOND, Grid, to_csv, to_html, to_latex, to_markdown
from .rows import rows_of

FAILED_FMT = "{failed}/{items} failed"
PENDING_FMT = "{pending} pending"
CELLS_NOTE = {
    "cases": "Cells: mean ± S.E.M. over cases (seeds of a case averaged first); failed items are "
             "counted and excluded from the mean.",
    "videos": "Cells: mean ± S.E.M. over videos (every shot of a multi-shot set counts once; seeds "
              "averaged first); failed items are counted and excluded from the mean.",
}


def format_cell(mean: float, sem: float, decimals: int, *, failed: int = 0, pending: int = 0,
                items: int = 0, n: int | None = None) -> str:
    """'38.6 ± 1.2', plus '(2/12 failed)' when items failed; '—' when nothing succeeded;
    no '±' for a single case (n=1), whose S.E.M. is undefined, nor for a set-level value (no
    S.E.M.: NaN), which shows its sample size instead."""
    if mean != mean:
        cell = "—"
    elif n == 1 or sem != sem:
        cell = f"{mean:.{decimals}f} (n={n})"
    else:
        cell = f"{mean:.{decimals}f} ± {sem:.{decimals}f}"
    notes = []
    if failed:
        notes.append(FAILED_FMT.format(failed=failed, items=items))
    if pending:
        notes.append(PENDING_FMT.format(pending=pending))
    return f"{cell} ({', '.join(notes)})" if notes else cell


def _row_keys(by_category: bool) -> list[str]:
    return ["category", "generator"] if by_category else ["generator"]


def summary_numbers(results: pd.DataFrame, *, by_category: bool = False, over: str = "cases") -> pd.DataFrame:
    """aggregate() plus the scaled mean/sem and per-column decimals and rank (1 = best)."""
    agg = aggregate(results, by=_row_keys(by_category), over=over)
    if agg.empty:
        return agg.assign(mean_scaled=[], sem_scaled=[], decimals=[], same_items=[], rank=[], mark=[])
    agg["mean_scaled"] = agg["mean"] * agg["scale"]
    agg["sem_scaled"] = agg["sem"] * agg["scale"]
    dec = agg.groupby("metric")["mean_scaled"].agg(lambda s: decimals_for(s.tolist()))
    agg["decimals"] = agg["metric"].map(dec).astype(int)
    # rank within a column (and category) among the rows measured on the same items (a row with
    # failed or missing items is not ranked: its mean is over other cases); ties share a rank;
    # unknown direction -> no rank
    keys = _row_keys(by_category)
    items = measured_items(results, keys + ["metric"])
    agg["same_items"] = True
    groups = ["metric"] + (["category"] if by_category else [])
    ranks = []
    for _, g in agg.groupby(groups, sort=False):
        row_items = [items.get(tuple(r[k] for k in keys) + (r["metric"],), frozenset()) for _, r in g.iterrows()]
        ref = reference_items(row_items)
        same = pd.Series([bool(i) and i == ref for i in row_items], index=g.index)
        agg.loc[g.index, "same_items"] = same
        hib = g["higher_is_better"].iloc[0]
        if hib is None or (isinstance(hib, float) and math.isnan(hib)):
            ranks.append(pd.Series(math.nan, index=g.index))
            continue
        rounded = g["mean_scaled"].round(g["decimals"].iloc[0]).where(same)
        ranks.append(rounded.rank(method="min", ascending=not bool(hib)))
    agg["rank"] = pd.concat(ranks) if ranks else []
    agg["mark"] = ""
    for _, g in agg.groupby(groups, sort=False):   # bold / underline only a unique best / second
        best, second = g.index[g["rank"] == 1], g.index[g["rank"] == 2]
        if len(best) == 1:
            agg.loc[best, "mark"] = BEST
            if len(second) == 1:
                agg.loc[second, "mark"] = SECOND
    return agg


@dataclass(frozen=True)
class SummaryTable:
    """A seed table: ``cells`` (strings; index generator or (category, generator), one column per
    metric header), the ``numbers`` behind them, the column facts and the footnotes."""
    cells: pd.DataFrame
    numbers: pd.DataFrame
    facts: dict[str, ColumnFacts]
    columns: tuple[str, ...]          # metric columns, in the order of ``cells``' columns
    footnotes: tuple[str, ...]
    by_category: bool = False
    over: str = "cases"

    @property
    def keys(self) -> list[str]:
        return _row_keys(self.by_category)

    def grid(self, *, title: str | None = None, with_footnotes: bool = True) -> Grid:
        """The table for the writers: key columns, one cell per column, best/second marks."""
        flat = self.cells.reset_index()
        keys = self.keys
        mark = {tuple(r[k] for k in keys) + (r["metric"],): r["mark"] for _, r in self.numbers.iterrows()}
        rows: list[tuple[str, ...]] = []
        marks: dict[tuple[int, int], str] = {}
        breaks: list[int] = []
        for i, rec in enumerate(flat.itertuples(index=False)):
            key = tuple(rec[:len(keys)])
            if self.by_category and i and key[0] != rows[-1][0]:
                breaks.append(i)
            rows.append(tuple(str(k) for k in key) + tuple(str(v) for v in rec[len(keys):]))
            marks.update({(i, len(keys) + j): mark[key + (c,)] for j, c in enumerate(self.columns)
                          if mark.get(key + (c,))})
        return Grid(tuple(keys) + tuple(str(c) for c in self.cells.columns), tuple(rows), keys=len(keys),
                    marks=marks, breaks=tuple(breaks), notes=self.footnotes if with_footnotes else (),
                    title=title or "")


def summary_table(results: pd.DataFrame, *, by_category: bool = False,
                  metrics: Iterable[str] | None = None, over: str = "cases") -> SummaryTable:
    """Rows = generators (or category × generator), columns = metric headers, cells = strings.

    Cells are "mean ± sem" with the metric's report scale applied (booleans as fractions);
    failures are counted in the cell. ``over``: the unit of the mean ± S.E.M. (``cases`` or
    ``videos``, see :mod:`evalkit.report.aggregate`).
    """
    if metrics is not None:
        results = results[results["metric"].isin(list(metrics))]
    nums = summary_numbers(results, by_category=by_category, over=over)
    keys = _row_keys(by_category)
    columns = list(dict.fromkeys(results["metric"])) if len(results) else []
    facts = facts_for(results) if len(results) else {}
    nums["cell"] = [format_cell(r.mean_scaled, r.sem_scaled, r.decimals, failed=r.n_failed,
                                pending=r.n_pending, items=r.n_items, n=r.n) for r in rows_of(nums, index=True)]
    if nums.empty:
        cells = pd.DataFrame(columns=[facts[c].label for c in columns])
    else:
        cells = nums.pivot(index=keys, columns="metric", values="cell")
        cells = cells.reindex(columns=columns).fillna("—")
        row_order = score_order(list(dict.fromkeys(map(tuple, results[keys].to_numpy().tolist()))), nums, keys)
        cells = cells.reindex(pd.MultiIndex.from_tuples(row_order, names=keys) if by_category
                              else [r[0] for r in row_order])
        cells.columns = [facts[c].label for c in columns]
    cells.index.name = None if by_category else "generator"
    return SummaryTable(cells, nums, facts, tuple(columns), tuple(footnotes(results, nums, over)), by_category, over)


def score_order(rows: list[tuple], numbers: pd.DataFrame, keys: list[str]) -> list[tuple]:
    """Rows best first: by the mean of their per-column ranks (the leaderboard's score). A row
    left unranked in a column that ranks others (measured on other items) comes after the rows
    ranked everywhere; rows ranked nowhere last, in store order. By category: grouped by
    category (first-seen order), ranked within each."""
    position = {r: i for i, r in enumerate(rows)}
    category = {c: i for i, c in enumerate(dict.fromkeys(r[0] for r in rows))} if len(keys) > 1 else {}
    if numbers.empty:
        return rows
    ranked_columns = numbers[numbers["rank"].notna()].groupby(keys[:-1] + ["metric"] if len(keys) > 1 else "metric")
    directed = set(ranked_columns.groups)
    score: dict[tuple, tuple[int, float]] = {}
    for key, g in numbers.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        unranked = sum(1 for r in rows_of(g, index=True) if r.rank != r.rank
                       and ((*key[:-1], r.metric) if len(keys) > 1 else r.metric) in directed)
        ranks = g["rank"].dropna()
        score[key] = (unranked, float(ranks.mean()) if len(ranks) else math.inf)

    def order(row: tuple):
        return (category.get(row[0], 0), *score.get(row, (0, math.inf)), position[row])

    return sorted(rows, key=order)


# -- footnotes ----------------------------------------------------------------------------------

def footnotes(results: pd.DataFrame, numbers: pd.DataFrame | None = None, over: str = "cases") -> list[str]:
    """One line per metric column (definition, boolean, scale, reference), then the cells' unit."""
    if results.empty:
        return []
    lines = []
    for col, f in facts_for(results).items():
        configs = results.loc[results["metric"] == col, "metric_config"]
        named = f"{f.display} ({col})" if f.display else col
        parts = [f"{named}: {Definition.of(configs.iloc[0], what=f'metric_config of {col}').describe()}"]
        if f.boolean:
            parts.append("boolean per video, reported as the fraction of True")
        if f.scale != 1:
            parts.append(f"reported ×{f.scale:g}")
        if f.higher_is_better is None:
            parts.append("metric not registered in this installation: direction unknown")
        if configs.nunique() > 1:
            parts.append(f"WARNING: {configs.nunique()} different metric configs under this column")
        if f.reference:
            parts.append(f"ref. {f.reference}")
        lines.append("; ".join(parts))
    units = {} if numbers is None or numbers.empty else dict(zip(numbers["metric"], numbers["unit"]))
    names = {c: f.name for c, f in facts_for(results).items()}
    lines += unranked_notes(numbers, names) + tie_notes(numbers, names)
    lines.append(CELLS_NOTE[over])
    lines += n_notes(results, numbers)
    if over == "videos":
        lines += [f"{c}: over sets (no per-video values recorded)" for c, u in units.items() if u == "sets"]
    return lines


def n_notes(results: pd.DataFrame, numbers: pd.DataFrame | None) -> list[str]:
    """What n is in every cell: one line when it is the same everywhere, else its range."""
    if numbers is None or numbers.empty:
        return []
    seeds = sorted(set(results["seed"]))
    seeded = f"; seeds {', '.join(map(str, seeds))} averaged per case" if len(seeds) > 1 else ""
    filled = numbers[numbers["n"] > 0]
    units = "/".join(sorted(set(filled["unit"]))) or "cases"
    ns = sorted(set(filled["n"].astype(int)))
    if not ns:
        return []
    if len(ns) == 1:
        return [f"n = {ns[0]} {units} per cell{seeded}."]
    return [f"n = {ns[0]}–{ns[-1]} {units} per cell (failed or missing items excluded){seeded}."]


def tie_notes(numbers: pd.DataFrame | None, names: dict[str, str] | None = None) -> list[str]:
    """Columns where the best value is tied at the printed precision (no cell is bold there)."""
    if numbers is None or numbers.empty or "rank" not in numbers:
        return []
    tied = numbers[numbers["rank"] == 1].groupby("metric", sort=False).size()
    groups = numbers.groupby("metric", sort=False)["category"].nunique() if "category" in numbers else None
    return [f"{(names or {}).get(c, c)}: tied for best at the printed precision, not marked" for c, k in tied.items()
            if k > (1 if groups is None else groups[c])]


def unranked_notes(numbers: pd.DataFrame | None, names: dict[str, str] | None = None) -> list[str]:
    """Per column, the rows left out of the ranking because they were measured on other items."""
    if numbers is None or numbers.empty or "same_items" not in numbers:
        return []
    out = []
    apart = numbers[~numbers["same_items"].astype(bool) & (numbers["n"] > 0)]   # n = 0: nothing to rank
    for column, rows in apart.groupby("metric", sort=False):
        who = ", ".join(" / ".join(str(r[k]) for k in ("category", "generator") if k in r and str(r[k]))
                        + f" (n={int(r['n'])}, {int(r['n_failed'])} failed, {int(r['n_pending'])} pending)"
                        for _, r in rows.iterrows())
        out.append(f"{(names or {}).get(column, column)}: not ranked (measured on other items than the rows "
                   f"ranked): {who}")
    return out


# -- renderers ----------------------------------------------------------------------------------

def _table(obj, by_category: bool, over: str) -> SummaryTable:
    return obj if isinstance(obj, SummaryTable) else summary_table(obj, by_category=by_category, over=over)


def render_markdown(table, *, title: str | None = None, by_category: bool = False,
                    with_footnotes: bool = True, over: str = "cases") -> str:
    """GitHub Markdown table. Accepts a SummaryTable or a raw results frame."""
    return to_markdown(_table(table, by_category, over).grid(title=title, with_footnotes=with_footnotes))


def render_csv(table, *, by_category: bool = False, over: str = "cases", run_status: str | None = None) -> str:
    """Numeric CSV (one row per generator × metric, raw and scaled numbers): round-trips via pandas.
    ``run_status``: a column saying whether the run was complete (partial runs say so in every row)."""
    t = _table(table, by_category, over)
    cols = t.keys + ["metric", "metric_name", "mean", "sem", "n", "unit", "n_items", "n_failed", "n_pending",
                     "scale", "mean_scaled", "sem_scaled", "higher_is_better", "boolean", "rank"]
    frame = t.numbers.reindex(columns=cols)
    if run_status is not None:
        frame.insert(0, "run_status", run_status)
    return to_csv(frame)


def render_latex(table, *, by_category: bool = False, caption: str | None = None, label: str | None = None,
                 over: str = "cases", wide: bool = False) -> str:
    """A booktabs table; per column a unique best value in bold and a unique second underlined;
    fitted to the column width (``wide``: a ``table*`` over both columns)."""
    grid = _table(table, by_category, over).grid()
    grid = dataclasses.replace(grid, header=tuple(h.capitalize() if i < grid.keys else h
                                                  for i, h in enumerate(grid.header)))
    return to_latex(grid, caption=caption, label=label, wide=wide)


def render_html(table, *, by_category: bool = False, title: str | None = None, over: str = "cases") -> str:
    """An HTML <table> fragment (class 'evalkit-table'); best bold, second underlined."""
    return to_html(_table(table, by_category, over).grid(title=title))
