"""The one table writer of the reports: a :class:`Grid` of cell strings to Markdown, LaTeX or HTML.

Seed tables, leaderboards, paper-table reproductions, comparisons and the HTML report's runtime
and failure tables all build a Grid and hand it here, so alignment, best/second marks and
footnotes are written one way per format, and every cell, header, title and note is escaped by
:mod:`evalkit.report.escape` (also for CSV: :func:`to_csv`).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd

from .escape import csv_cell, html_escape, latex_escape, markdown_escape

__all__ = ["BEST", "SECOND", "Grid", "grid_of", "to_markdown", "to_latex", "to_html", "to_csv", "latex_escape",
           "markdown_escape", "html_escape", "bullet_list", "STRONG"]

BEST, SECOND = "best", "second"
STRONG = "strong"   # emphasised in every format (e.g. a REGRESSION verdict), unlike BEST (not in Markdown)


@dataclass(frozen=True)
class Grid:
    """Header, rows of cell strings, and how to present them.

    ``keys``: leading key columns (left-aligned; row headers in HTML). ``align``: 'l' or 'r' per
    column (default: keys left, values right). ``marks``: (row, column) -> BEST | SECOND.
    ``breaks``: row indices preceded by a rule (category groups). ``notes``: footnotes.
    """
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    keys: int = 1
    align: tuple[str, ...] = ()
    marks: dict[tuple[int, int], str] = field(default_factory=dict)
    breaks: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    title: str = ""

    def alignment(self) -> tuple[str, ...]:
        return self.align or tuple("l" if i < self.keys else "r" for i in range(len(self.header)))


def grid_of(frame: pd.DataFrame, *, keys: int = 1, fmt=str, **kw) -> Grid:
    """A Grid of a frame's columns (index ignored); ``fmt`` turns each value into its cell."""
    rows = tuple(tuple("" if _missing(v) else fmt(v) for v in r) for r in frame.itertuples(index=False))
    return Grid(tuple(str(c) for c in frame.columns), rows, keys=keys, **kw)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


# -- Markdown -----------------------------------------------------------------------------------

def to_markdown(grid: Grid) -> str:
    md = markdown_escape
    out = [f"### {md(grid.title)}", ""] if grid.title else []
    out.append("| " + " | ".join(md(h) for h in grid.header) + " |")
    out.append("|" + "|".join(":---" if a == "l" else "---:" for a in grid.alignment()) + "|")
    out += ["| " + " | ".join(_strong(md(c)) if grid.marks.get((i, j)) == STRONG else md(c)
                              for j, c in enumerate(row)) + " |" for i, row in enumerate(grid.rows)]
    if grid.notes:
        out += [""] + [f"- {md(n)}" for n in grid.notes]
    return "\n".join(out) + "\n"


def _strong(text: str) -> str:
    return f"**{text}**" if text else text


# -- LaTeX --------------------------------------------------------------------------------------

def to_latex(grid: Grid, *, caption: str | None = None, label: str | None = None, wide: bool = False) -> str:
    """A booktabs table; marked cells in bold (best) or underlined (second); notes in the caption.

    The tabular is measured first and, when wider than the column (``\\linewidth``: the column of
    a two-column paper, or the page with ``wide``, a ``table*``), scaled down to fit; that needs
    ``graphicx`` (without it the table is left as it is). Needs ``booktabs``.
    """
    env = "table*" if wide else "table"
    cols = "".join("l" if i < grid.keys else "c" for i in range(len(grid.header)))
    lines = [rf"\begin{{{env}}}[t]", r"\centering", r"\small", r"\setbox0=\hbox{%",
             r"\begin{tabular}{" + cols + "}", r"\toprule",
             " & ".join(latex_escape(h) for h in grid.header) + r" \\", r"\midrule"]
    for i, row in enumerate(grid.rows):
        if i in grid.breaks and i > 0:
            lines.append(r"\midrule")
        cells = []
        for j, text in enumerate(row):
            text = latex_escape(text)
            mark = grid.marks.get((i, j))
            cells.append(r"\textbf{" + text + "}" if mark in (BEST, STRONG) else
                         r"\underline{" + text + "}" if mark == SECOND else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}%",
              r"\ifdim\wd0>\linewidth \ifdefined\resizebox \resizebox{\linewidth}{!}{\box0}\else\box0\fi"
              r"\else\box0\fi"]
    cap = " ".join(latex_escape(_sentence(t)) for t in ([caption] if caption else []) + list(grid.notes))
    if cap:
        lines.append(r"\caption{" + cap + "}")
    if label:
        lines.append(r"\label{" + re.sub(r"[^A-Za-z0-9:._-]", "-", label) + "}")
    lines.append(rf"\end{{{env}}}")
    return "\n".join(lines) + "\n"


def _sentence(text: str) -> str:
    """Caption parts run together: each ends with a full stop."""
    text = str(text).strip()
    return text if not text or text[-1] in ".!?:" else text + "."


# -- HTML ---------------------------------------------------------------------------------------

def to_html(grid: Grid, *, table_class: str = "evalkit-table") -> str:
    """A <table> fragment: key cells as row headers, marked cells with class best / second."""
    out = [f"<h3>{html_escape(grid.title)}</h3>"] if grid.title else []
    out.append(f'<table class="{html_escape(table_class)}">')
    out.append("<thead><tr>" + "".join(f"<th>{html_escape(h)}</th>" for h in grid.header) + "</tr></thead><tbody>")
    for i, row in enumerate(grid.rows):
        tds = []
        for j, text in enumerate(row):
            if j < grid.keys:
                tds.append(f"<th>{html_escape(text)}</th>")
                continue
            mark = grid.marks.get((i, j))
            tds.append(f'<td class="{mark}">' if mark else "<td>")
            tds[-1] += f"{html_escape(text)}</td>"
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    if grid.notes:
        out.append('<ul class="footnotes">' + "".join(f"<li>{html_escape(n)}</li>" for n in grid.notes) + "</ul>")
    return "\n".join(out) + "\n"


# -- CSV ----------------------------------------------------------------------------------------

def to_csv(frame: pd.DataFrame) -> str:
    """CSV of a frame (index dropped); text cells a spreadsheet would run as formulas are defused."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: v if _missing(v) or not isinstance(v, str) else csv_cell(v))
    out.columns = [csv_cell(c) for c in out.columns]
    buf = io.StringIO()
    out.to_csv(buf, index=False)
    return buf.getvalue()


def bullet_list(title: str, items: Iterable[str], *, bold: bool = False) -> list[str]:
    """A titled Markdown list (nothing when there are no items); items are escaped."""
    items = list(items)
    if not items:
        return []
    title = markdown_escape(title)
    return ["", f"**{title}**" if bold else title] + [f"- {markdown_escape(i)}" for i in items]

