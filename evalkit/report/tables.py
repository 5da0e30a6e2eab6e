"""Seed-table formatting: generators × metric columns of "mean ± S.E.M." cells.

``summary_table(results)`` builds the table (a DataFrame of strings) from a results frame
(``ResultsStore.results(run_id)``); the ``render_*`` functions write it as Markdown, CSV,
LaTeX (booktabs; best in bold, second underlined, as DiTFlow Table 1) or an HTML fragment.
Column headers carry the report scale and the better-direction arrow; a footnote per column
names the metric's backend, checkpoint, version and non-default options.
"""
from __future__ import annotations

import html
import io
import math
from typing import Iterable

import pandas as pd

from ..registry import FEATURES, UnknownNameError
from .aggregate import aggregate, column_facts, decimals_for, metric_configs

FAILED_FMT = "{failed}/{items} failed"
PENDING_FMT = "{pending} pending"


def _is_results(df: pd.DataFrame) -> bool:
    return "metric_name" in df.columns and "status" in df.columns


def format_cell(mean: float, sem: float, decimals: int, *, failed: int = 0, pending: int = 0,
                items: int = 0, n: int | None = None) -> str:
    """'38.6 ± 1.2', plus '(2/12 failed)' when items failed; '—' when nothing succeeded;
    no '±' for a single case (n=1), whose S.E.M. is undefined."""
    if mean != mean:
        cell = "—"
    elif n == 1:
        cell = f"{mean:.{decimals}f} (n=1)"
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


def summary_numbers(results: pd.DataFrame, *, by_category: bool = False) -> pd.DataFrame:
    """aggregate() plus the scaled mean/sem and per-column decimals and rank (1 = best)."""
    agg = aggregate(results, by=_row_keys(by_category))
    if agg.empty:
        return agg.assign(mean_scaled=[], sem_scaled=[], decimals=[], rank=[])
    agg["mean_scaled"] = agg["mean"] * agg["scale"]
    agg["sem_scaled"] = agg["sem"] * agg["scale"]
    dec = agg.groupby("metric")["mean_scaled"].agg(lambda s: decimals_for(s.tolist()))
    agg["decimals"] = agg["metric"].map(dec).astype(int)
    # rank within a column (and category): ties share a rank; unknown direction -> no rank
    groups = ["metric"] + (["category"] if by_category else [])
    ranks = []
    for _, g in agg.groupby(groups, sort=False):
        hib = g["higher_is_better"].iloc[0]
        if hib is None or (isinstance(hib, float) and math.isnan(hib)):
            ranks.append(pd.Series(math.nan, index=g.index))
            continue
        rounded = g["mean_scaled"].round(g["decimals"].iloc[0])
        ranks.append(rounded.rank(method="min", ascending=not bool(hib)))
    agg["rank"] = pd.concat(ranks) if ranks else []
    return agg


def summary_table(results: pd.DataFrame, *, by_category: bool = False,
                  metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows = generators (or category × generator), columns = metric headers, cells = strings.

    Cells are "mean ± sem" with the metric's report scale applied (booleans as fractions);
    failures are counted in the cell. ``table.attrs`` keeps the numbers ("numbers"), the
    column facts ("facts") and the footnotes ("footnotes") for the renderers.
    """
    if metrics is not None:
        results = results[results["metric"].isin(list(metrics))]
    nums = summary_numbers(results, by_category=by_category)
    keys = _row_keys(by_category)
    columns = list(dict.fromkeys(results["metric"])) if len(results) else []
    facts = {c: column_facts(c, n) for c, n in
             results[["metric", "metric_name"]].drop_duplicates("metric").itertuples(index=False)}
    nums["cell"] = [format_cell(r.mean_scaled, r.sem_scaled, r.decimals, failed=r.n_failed,
                                pending=r.n_pending, items=r.n_items, n=r.n) for r in nums.itertuples()]
    if nums.empty:
        table = pd.DataFrame(columns=[facts[c].label for c in columns])
    else:
        table = nums.pivot(index=keys, columns="metric", values="cell")
        table = table.reindex(columns=columns).fillna("—")
        row_order = list(dict.fromkeys(map(tuple, results[keys].to_numpy().tolist())))
        if by_category:  # rows grouped by category (first-seen order), generators in store order
            cat_pos = {c: i for i, c in enumerate(dict.fromkeys(r[0] for r in row_order))}
            row_order.sort(key=lambda r: cat_pos[r[0]])
        table = table.reindex(pd.MultiIndex.from_tuples(row_order, names=keys) if by_category
                              else [r[0] for r in row_order])
        table.columns = [facts[c].label for c in columns]
    table.index.name = None if by_category else "generator"
    table.attrs["numbers"] = nums
    table.attrs["facts"] = facts
    table.attrs["columns"] = columns
    table.attrs["footnotes"] = footnotes(results)
    return table


# -- footnotes ----------------------------------------------------------------------------------

def checkpoint_of(backend: str | None) -> str:
    """The exact checkpoint a feature backend loads, 'weight-free', or 'unknown backend'."""
    if not backend:
        return "no backend"
    try:
        cls = FEATURES.get(backend)
    except UnknownNameError:
        return "backend not installed here"
    weights = cls.weights_id
    if isinstance(weights, property):
        # computed from options (CoTracker, RAFT): evaluate on a bare instance with the
        # default options, without loading anything
        try:
            bare = cls.__new__(cls)
            bare.options = dict(getattr(cls, "defaults", {}))
            weights = weights.fget(bare)
        except Exception:
            return "checkpoint chosen at load time"
    return str(weights) if weights else "weight-free"


def footnotes(results: pd.DataFrame) -> list[str]:
    """One line per metric column: backend, checkpoint, version, options, reference, boolean."""
    if results.empty:
        return []
    lines = []
    configs = metric_configs(results)
    for col, name in results[["metric", "metric_name"]].drop_duplicates("metric").itertuples(index=False):
        f = column_facts(col, name)
        cfg = dict(configs.get(col, {}))
        backend = cfg.pop("backend", None) or None
        version = cfg.pop("version", "?")
        cfg.pop("name", None)
        opts = ", ".join(f"{k}={v}" for k, v in sorted(cfg.items()))
        n_cfg = results.loc[results["metric"] == col, "metric_config"].nunique()
        parts = [f"{col}: metric {name} v{version}"]
        parts.append(f"backend {backend} ({checkpoint_of(backend)})" if backend else "no feature backend")
        if opts:
            parts.append(f"options {opts}")
        if f.boolean:
            parts.append("boolean per video, reported as the fraction of True")
        if f.scale != 1:
            parts.append(f"reported ×{f.scale:g}")
        if f.higher_is_better is None:
            parts.append("metric not registered in this installation: direction unknown")
        if n_cfg > 1:
            parts.append(f"WARNING: {n_cfg} different metric configs under this column")
        if f.reference:
            parts.append(f"ref. {f.reference}")
        lines.append("; ".join(parts))
    lines.append("Cells: mean ± S.E.M. over cases (seeds of a case averaged first); failed items are "
                 "counted and excluded from the mean.")
    return lines


# -- renderers ----------------------------------------------------------------------------------

def _table(obj: pd.DataFrame, by_category: bool = False) -> pd.DataFrame:
    return summary_table(obj, by_category=by_category) if _is_results(obj) else obj


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    """Index turned into leading columns (category, generator)."""
    if isinstance(table.index, pd.MultiIndex):
        return table.reset_index()
    return table.reset_index().rename(columns={"index": "generator"})


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def render_markdown(table: pd.DataFrame, *, title: str | None = None, by_category: bool = False,
                    with_footnotes: bool = True) -> str:
    """GitHub Markdown table. Accepts a summary_table() or a raw results frame."""
    table = _table(table, by_category)
    t = _flat(table)
    out = []
    if title:
        out += [f"### {title}", ""]
    cols = [str(c) for c in t.columns]
    out.append("| " + " | ".join(_md_escape(c) for c in cols) + " |")
    nkeys = _n_key_cols(t)
    out.append("|" + "|".join(":---" if i < nkeys else "---:" for i in range(len(cols))) + "|")
    for row in t.itertuples(index=False):
        out.append("| " + " | ".join(_md_escape(v) for v in row) + " |")
    notes = table.attrs.get("footnotes", []) if with_footnotes else []
    if notes:
        out.append("")
        out += [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def _n_key_cols(t: pd.DataFrame) -> int:
    return sum(1 for c in t.columns if c in ("category", "generator"))


def render_csv(results: pd.DataFrame, *, by_category: bool = False) -> str:
    """Numeric CSV (one row per generator × metric, raw and scaled numbers): round-trips via pandas."""
    nums = summary_numbers(results, by_category=by_category) if _is_results(results) \
        else results.attrs["numbers"]
    cols = _row_keys(by_category) + ["metric", "metric_name", "mean", "sem", "n", "n_items", "n_failed",
                                     "n_pending", "scale", "mean_scaled", "sem_scaled",
                                     "higher_is_better", "boolean", "rank"]
    buf = io.StringIO()
    nums.reindex(columns=cols).to_csv(buf, index=False)
    return buf.getvalue()


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


_LATEX_UNICODE = {"↑": r"$\uparrow$", "↓": r"$\downarrow$", "×": r"$\times$", "±": r"$\pm$", "—": "---",
                  "–": "--", "≤": r"$\leq$", "≥": r"$\geq$", "→": r"$\rightarrow$", "−": "-", "Δ": r"$\Delta$",
                  "…": r"\ldots{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the symbols reports use, so pdflatex compiles the result."""
    return "".join(_LATEX_SPECIAL.get(ch) or _LATEX_UNICODE.get(ch, ch) for ch in str(text))


def _latex_header(label: str) -> str:
    return latex_escape(label)


def render_latex(results: pd.DataFrame, *, by_category: bool = False, caption: str | None = None,
                 label: str | None = None) -> str:
    """A booktabs table; per column the best value in bold and the second underlined."""
    table = _table(results, by_category)
    nums: pd.DataFrame = table.attrs["numbers"]
    columns: list[str] = table.attrs["columns"]
    keys = _row_keys(by_category)
    flat = _flat(table)
    lookup = {tuple(r[k] for k in keys) + (r["metric"],): r for _, r in nums.iterrows()}
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{" + "l" * len(keys) + "c" * len(columns) + "}", r"\toprule"]
    header = [latex_escape(k.capitalize()) for k in keys] + [_latex_header(c) for c in table.columns]
    lines.append(" & ".join(header) + r" \\")
    lines.append(r"\midrule")
    prev_cat = None
    for row in flat.itertuples(index=False):
        rowd = dict(zip(flat.columns, row))
        key = tuple(rowd[k] for k in keys)
        if by_category and prev_cat is not None and key[0] != prev_cat:
            lines.append(r"\midrule")
        prev_cat = key[0]
        cells = [latex_escape(k) for k in key]
        for col, label_ in zip(columns, table.columns):
            text = latex_escape(rowd[label_])
            r = lookup.get(key + (col,))
            if r is not None and r["rank"] == 1:
                text = r"\textbf{" + text + "}"
            elif r is not None and r["rank"] == 2:
                text = r"\underline{" + text + "}"
            cells.append(text)
        lines.append(" & ".join(cells) + r" \\")
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    notes = table.attrs.get("footnotes", [])
    if caption or notes:
        cap = latex_escape(caption or "")
        if notes:
            cap = (cap + " " if cap else "") + " ".join(latex_escape(n) for n in notes)
        lines.append(r"\caption{" + cap + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def render_html(results: pd.DataFrame, *, by_category: bool = False, title: str | None = None) -> str:
    """An HTML <table> fragment (class 'evalkit-table'); best bold, second underlined."""
    table = _table(results, by_category)
    nums: pd.DataFrame = table.attrs["numbers"]
    columns: list[str] = table.attrs["columns"]
    keys = _row_keys(by_category)
    flat = _flat(table)
    lookup = {tuple(r[k] for k in keys) + (r["metric"],): r["rank"] for _, r in nums.iterrows()}
    out = []
    if title:
        out.append(f"<h3>{html.escape(title)}</h3>")
    out.append('<table class="evalkit-table">')
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in flat.columns)
               + "</tr></thead><tbody>")
    for row in flat.itertuples(index=False):
        rowd = dict(zip(flat.columns, row))
        key = tuple(rowd[k] for k in keys)
        tds = [f"<th>{html.escape(str(k))}</th>" for k in key]
        for col, label_ in zip(columns, table.columns):
            rank = lookup.get(key + (col,))
            cls = ' class="best"' if rank == 1 else ' class="second"' if rank == 2 else ""
            tds.append(f"<td{cls}>{html.escape(str(rowd[label_]))}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    notes = table.attrs.get("footnotes", [])
    if notes:
        out.append('<ul class="footnotes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(out) + "\n"
