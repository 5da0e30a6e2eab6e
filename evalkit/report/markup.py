"""The one table writer of the reports: a :class:`Grid` of cell strings to Markdown, LaTeX or HTML.

Seed tables, leaderboards, paper-table reproductions, comparisons and the HTML report's runtime
and failure tables all build a Grid and hand it here, so escaping, alignment, best/second marks
and footnotes are written one way per format.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import pandas as pd

BEST, SECOND = "best", "second"


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

def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(grid: Grid) -> str:
    out = [f"### {grid.title}", ""] if grid.title else []
    out.append("| " + " | ".join(_md(h) for h in grid.header) + " |")
    out.append("|" + "|".join(":---" if a == "l" else "---:" for a in grid.alignment()) + "|")
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in grid.rows]
    if grid.notes:
        out += [""] + [f"- {n}" for n in grid.notes]
    return "\n".join(out) + "\n"


# -- LaTeX --------------------------------------------------------------------------------------

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
_LATEX_UNICODE = {"↑": r"$\uparrow$", "↓": r"$\downarrow$", "×": r"$\times$", "±": r"$\pm$", "—": "---",
                  "–": "--", "≤": r"$\leq$", "≥": r"$\geq$", "→": r"$\rightarrow$", "−": "-",
                  "Δ": r"$\Delta$", "…": r"\ldots{}", "↳": r"$\hookrightarrow$", "τ": r"$\tau$",
                  "√": r"$\surd$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the symbols reports use, so pdflatex compiles the result."""
    return "".join(_LATEX_SPECIAL.get(ch) or _LATEX_UNICODE.get(ch, ch) for ch in str(text))


def to_latex(grid: Grid, *, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs table; marked cells in bold (best) or underlined (second); notes in the caption."""
    cols = "".join("l" if i < grid.keys else "c" for i in range(len(grid.header)))
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + cols + "}", r"\toprule",
             " & ".join(latex_escape(h) for h in grid.header) + r" \\", r"\midrule"]
    for i, row in enumerate(grid.rows):
        if i in grid.breaks and i > 0:
            lines.append(r"\midrule")
        cells = []
        for j, text in enumerate(row):
            text = latex_escape(text)
            mark = grid.marks.get((i, j))
            cells.append(r"\textbf{" + text + "}" if mark == BEST else
                         r"\underline{" + text + "}" if mark == SECOND else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    cap = " ".join(latex_escape(t) for t in ([caption] if caption else []) + list(grid.notes))
    if cap:
        lines.append(r"\caption{" + cap + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


# -- HTML ---------------------------------------------------------------------------------------

def to_html(grid: Grid, *, table_class: str = "evalkit-table") -> str:
    """A <table> fragment: key cells as row headers, marked cells with class best / second."""
    out = [f"<h3>{html.escape(grid.title)}</h3>"] if grid.title else []
    out.append(f'<table class="{table_class}">')
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in grid.header) + "</tr></thead><tbody>")
    for i, row in enumerate(grid.rows):
        tds = []
        for j, text in enumerate(row):
            if j < grid.keys:
                tds.append(f"<th>{html.escape(text)}</th>")
                continue
            mark = grid.marks.get((i, j))
            tds.append(f'<td class="{mark}">' if mark else "<td>")
            tds[-1] += f"{html.escape(text)}</td>"
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    if grid.notes:
        out.append('<ul class="footnotes">' + "".join(f"<li>{html.escape(n)}</li>" for n in grid.notes) + "</ul>")
    return "\n".join(out) + "\n"


def bullet_list(title: str, items: Iterable[str], *, bold: bool = False) -> list[str]:
    """A titled Markdown list (nothing when there are no items)."""
    items = list(items)
    if not items:
        return []
    return ["", f"**{title}**" if bold else title] + [f"- {i}" for i in items]


def column_marks(ranks: Sequence[Sequence[float | None]], first_value_col: int) -> dict[tuple[int, int], str]:
    """BEST/SECOND marks from a rows × value-columns matrix of ranks (1 = best)."""
    marks = {}
    for i, row in enumerate(ranks):
        for j, r in enumerate(row):
            if r == 1:
                marks[(i, first_value_col + j)] = BEST
            elif r == 2:
                marks[(i, first_value_col + j)] = SECOND
    return marks
