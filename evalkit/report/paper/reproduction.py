"""A reproduced paper table: published cells, ours beside them, and how to write it out.

Written through the one table writer (:mod:`evalkit.report.markup`): Markdown for the terminal,
LaTeX for a paper, CSV (:meth:`Reproduction.frame`) for analysis.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pandas as pd

from ..markup import Grid, bullet_list, markdown_escape, to_latex, to_markdown
from ..sources import RunData
from .tables import RUNTIME, PaperTable, decimals_of, parse_published


@dataclass
class Cell:
    row: str
    group: str
    column: str
    published: str
    ours_mean: float = math.nan
    ours_sem: float = math.nan
    n: int = 0
    generator: str = ""
    note: str = ""
    unit: str = ""                     # what n counts: cases, sets or videos

    @property
    def delta(self) -> float:
        pub = parse_published(self.published)
        return self.ours_mean - pub[0] if pub and self.ours_mean == self.ours_mean else math.nan

    def ours(self) -> str:
        """'34.0 ± 1.4 (Δ -4.6)' at the published precision; 'n/a (why)' when not measured."""
        if not self.n:
            return f"n/a ({self.note})" if self.note else ""
        dec = max(decimals_of(self.published), 1) if parse_published(self.published) else 3
        s = f"{self.ours_mean:.{dec}f}"
        if self.ours_sem == self.ours_sem and self.n > 1:
            s += f" ± {self.ours_sem:.{dec}f}"
        d = self.delta
        return s + (f" (Δ {d:+.{dec}f})" if d == d else "")


@dataclass
class Reproduction:
    table: PaperTable
    run: RunData
    cells: list[Cell]
    differences: list[str]
    mapping: dict[str, list[str]]
    measured_with: dict[str, str] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{**c.__dict__, "delta": c.delta} for c in self.cells])

    def grid(self, *, compact: bool = False) -> Grid:
        """Published rows as printed, each followed by its '↳ evalkit' row where the run has one.
        ``compact`` (a paper's column): an unmeasured cell is '—', its reason in :meth:`missing`."""
        t = self.table
        has_group = any(r.group for r in t.rows)
        heads = [f"{c.label}{' ↑' if c.higher_is_better else ' ↓'}" + (f" ({c.group})" if c.group else "")
                 for c in t.columns]
        by_key = {(c.row, c.group, c.column): c for c in self.cells}
        rows = []
        for r in t.rows:
            lead = [r.group] if has_group else []
            rows.append(tuple(lead + [r.label] + [r.values.get(c.key, "") for c in t.columns]))
            cells = [by_key[(r.label, r.group, c.key)] for c in t.columns]
            gens = list(dict.fromkeys(x.generator for x in cells if x.n))
            if gens:
                lead = [""] if has_group else []
                method = "↳ evalkit " + ", ".join(gens)
                rows.append(tuple(lead + [method] + [("—" if compact and not x.n else x.ours()) for x in cells]))
        return Grid(tuple((["group"] if has_group else []) + ["method"] + heads), tuple(rows),
                    keys=2 if has_group else 1)

    def error_bars(self) -> list[str]:
        """Per column label: what ours' mean ± S.E.M. is over, and whether that is the paper's unit."""
        out = []
        for label in dict.fromkeys(c.label for c in self.table.columns):
            cols = {c.key: c for c in self.table.columns if c.label == label}
            cells = [c for c in self.cells if c.column in cols and c.n and c.unit]
            if not cells or any(col.metric and col.metric.startswith(RUNTIME) for col in cols.values()):
                continue
            ns = sorted({c.n for c in cells})
            units = sorted({c.unit for c in cells})
            paper = next(iter(cols.values())).over
            same = all(u == "videos" if paper == "videos" else u in ("cases", "sets") for u in units)
            count = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
            out.append(f"{label}: mean ± S.E.M. over {count} {'/'.join(units)} "
                       + ("(the paper's unit)" if same else f"(the paper's: {paper})"))
        return out

    def to_markdown(self) -> str:
        t = self.table
        md = markdown_escape
        out = [f"# {md(f'{t.paper} — {t.table}')}", "", f"*{md(t.caption)}*", "", md(f"Citation: {t.citation}"),
               md(f"Benchmark (paper): {t.benchmark}"), md(f"Aggregation (paper): {t.aggregation}"),
               md(f"Ours: run {self.run.label}"), "", to_markdown(self.grid()).rstrip("\n"), "",
               "Published values are as printed in the paper; evalkit rows: ours (Δ = ours − published), "
               "on the paper's scale."]
        out += bullet_list("Ours measured with:", [f"{k}: {v}" for k, v in self.measured_with.items()])
        out += bullet_list("Error bars (ours):", self.error_bars())
        out += bullet_list("Setup differences (ours vs the paper):", self.differences, bold=True)
        out += bullet_list("Notes on the published table:", t.notes)
        return "\n".join(out) + "\n"

    def missing(self) -> list[str]:
        """Why ours is '—' in a compact table: 'not measured in this run: Text, Temp. C.'."""
        labels = {c.key: c.label for c in self.table.columns}
        why: dict[str, list[str]] = {}
        for c in self.cells:
            if c.generator or c.note:
                if not c.n and c.note:
                    why.setdefault(c.note, [])
                    if labels[c.column] not in why[c.note]:
                        why[c.note].append(labels[c.column])
        return [f"— in a ↳ row: {note} ({', '.join(cols)})" for note, cols in why.items()]

    def to_latex(self, *, wide: bool = False) -> str:
        t = self.table
        notes = ([f"Ours: run {self.run.run_id}; ↳ rows: ours (Δ = ours − published) on the paper's scale."]
                 + self.missing() + self.error_bars() + [f"Setup difference: {d}" for d in self.differences])
        return to_latex(dataclasses.replace(self.grid(compact=True), notes=tuple(notes)),
                        caption=f"{t.paper}, {t.table}: published values and evalkit's.", label=f"tab:{t.id}",
                        wide=wide)
