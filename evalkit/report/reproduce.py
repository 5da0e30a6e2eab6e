"""Paper-table reproduction: published numbers (baselines/papers/*.yaml) next to a run's.

A paper table is data: citation, table number, benchmark, and per column the evalkit metric
(name, backend, options) plus the paper's scale (×100 or raw); per row the evalkit generator
that reproduces it and its backbone. Published values are kept as the strings printed in the
paper ("91.6 ± 0.9", "0.9550", "×1.2") so they render exactly as published.

``reproduce(table, run)`` computes ours the same way (mean ± S.E.M. over cases, seeds averaged,
booleans as fractions, the paper's scale) and says plainly what differs in setup: backbone,
metric backend, options, checkpoint, benchmark.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import EvalkitError
from .aggregate import metric_spec, sem
from .sources import RunData
from .tables import checkpoint_of

_NUM = re.compile(r"[-+]?\d+(?:\.\d+)?")


class PaperTableError(EvalkitError):
    pass


@dataclass(frozen=True)
class PaperColumn:
    key: str
    label: str
    higher_is_better: bool
    metric: str | None                 # evalkit metric name, "runtime:<stage>", or None (not implemented)
    paper_scale: float = 1.0
    backend: str | None = None
    options: dict = field(default_factory=dict)
    group: str = ""
    backbone: str | None = None        # column group's backbone (DiTFlow 5B / 2B): filters generators
    category: tuple[str, ...] = ()     # case categories the column averages over; () = all
    unit: str = ""
    definition: str = ""


@dataclass(frozen=True)
class PaperRow:
    label: str
    values: dict
    generator: str | None = None
    backbone: str | None = None
    group: str = ""
    category: tuple[str, ...] = ()
    base_generator: str | None = None
    source: str = ""


@dataclass(frozen=True)
class PaperTable:
    id: str
    paper: str
    citation: str
    table: str
    caption: str
    columns: tuple[PaperColumn, ...]
    rows: tuple[PaperRow, ...]
    task: str = ""
    benchmark: str = ""
    aggregation: str = ""
    notes: tuple[str, ...] = ()
    path: str = ""

    def published(self, row_label: str, column_key: str, group: str | None = None) -> str:
        for r in self.rows:
            if r.label == row_label and (group is None or r.group == group):
                return r.values.get(column_key, "")
        raise KeyError(f"{self.id}: no row {row_label!r}")


def parse_published(text: Any) -> tuple[float, float | None] | None:
    """'97.0 ± 0.4' -> (97.0, 0.4); '78.8' -> (78.8, None); '×1.2' -> (1.2, None); '-' -> None."""
    if text is None:
        return None
    nums = _NUM.findall(str(text))
    if not nums:
        return None
    mean = float(nums[0])
    return mean, (float(nums[1]) if len(nums) > 1 and "±" in str(text) else None)


def _decimals(text: str) -> int:
    nums = _NUM.findall(str(text))
    return len(nums[0].split(".")[1]) if nums and "." in nums[0] else 0


# -- loading -----------------------------------------------------------------------------------

def papers_dir() -> Path:
    """baselines/papers of the checkout (or $EVALKIT_BASELINES/papers, or ./baselines/papers)."""
    env = os.environ.get("EVALKIT_BASELINES")
    candidates = ([Path(env) / "papers"] if env else []) + [
        Path.cwd() / "baselines" / "papers", Path(__file__).resolve().parents[2] / "baselines" / "papers"]
    for c in candidates:
        if c.is_dir():
            return c
    raise PaperTableError("no baselines/papers folder found (set EVALKIT_BASELINES to the baselines folder)")


def available_tables() -> list[str]:
    return sorted(p.stem for p in papers_dir().glob("*.yaml"))


def _tuple(v) -> tuple[str, ...]:
    if v is None:
        return ()
    return tuple(v) if isinstance(v, (list, tuple)) else (str(v),)


def load_table(name_or_path: str | Path) -> PaperTable:
    p = Path(name_or_path)
    if not p.is_file():
        p = papers_dir() / f"{name_or_path}.yaml"
        if not p.is_file():
            raise PaperTableError(f"unknown paper table {name_or_path!r} (known: {', '.join(available_tables())})")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise PaperTableError(f"{p}: invalid YAML ({exc})") from None
    try:
        cols = tuple(PaperColumn(key=c["key"], label=c["label"], higher_is_better=bool(c["higher_is_better"]),
                                 metric=c.get("metric"), paper_scale=float(c.get("paper_scale", 1)),
                                 backend=c.get("backend"), options=dict(c.get("options") or {}),
                                 group=c.get("group", ""), backbone=c.get("backbone"),
                                 category=_tuple(c.get("category")), unit=c.get("unit", ""),
                                 definition=c.get("definition", "")) for c in doc["columns"])
        rows = tuple(PaperRow(label=str(r["label"]), values={k: str(v) for k, v in r["values"].items()},
                              generator=r.get("generator"), backbone=r.get("backbone"), group=r.get("group", ""),
                              category=_tuple(r.get("category")), base_generator=r.get("base_generator"),
                              source=r.get("source", "")) for r in doc["rows"])
        table = PaperTable(id=doc["id"], paper=doc["paper"], citation=doc["citation"], table=doc["table"],
                           caption=doc.get("caption", ""), columns=cols, rows=rows, task=doc.get("task", ""),
                           benchmark=doc.get("benchmark", ""), aggregation=doc.get("aggregation", ""),
                           notes=tuple(doc.get("notes") or ()), path=str(p))
    except (KeyError, TypeError) as exc:
        raise PaperTableError(f"{p}: missing or malformed field {exc}") from None
    keys = {c.key for c in cols}
    for r in rows:
        extra = set(r.values) - keys
        if extra:
            raise PaperTableError(f"{p}: row {r.label!r} has values for unknown columns {sorted(extra)}")
    return table


# -- computing ours ----------------------------------------------------------------------------

def _norm(name: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _cfg(text: Any) -> dict:
    if isinstance(text, dict):
        return text
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


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

    @property
    def delta(self) -> float:
        pub = parse_published(self.published)
        return self.ours_mean - pub[0] if pub and self.ours_mean == self.ours_mean else math.nan


@dataclass
class Reproduction:
    table: PaperTable
    run: RunData
    cells: list[Cell]
    differences: list[str]
    mapping: dict[str, str]
    measured_with: dict[str, str] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{**c.__dict__, "delta": c.delta} for c in self.cells])

    def to_markdown(self) -> str:
        t = self.table
        out = [f"# {t.paper} — {t.table}", "", f"*{t.caption}*", "", f"Citation: {t.citation}",
               f"Benchmark (paper): {t.benchmark}", f"Aggregation (paper): {t.aggregation}",
               f"Ours: run {self.run.label}", ""]
        heads = [f"{c.label}{' ↑' if c.higher_is_better else ' ↓'}" + (f" ({c.group})" if c.group else "")
                 for c in t.columns]
        has_group = any(r.group for r in t.rows)
        out.append("| " + " | ".join((["group"] if has_group else []) + ["method"] + heads) + " |")
        out.append("|" + "|".join([":---"] * (2 if has_group else 1) + ["---:"] * len(heads)) + "|")
        by_key = {(c.row, c.group, c.column): c for c in self.cells}
        for r in t.rows:
            lead = ([r.group] if has_group else []) + [r.label]
            out.append("| " + " | ".join(lead + [_md(r.values.get(c.key, "")) for c in t.columns]) + " |")
            cells = [by_key.get((r.label, r.group, c.key)) for c in t.columns]
            if any(x is not None and x.n for x in cells):
                gen = next(x.generator for x in cells if x is not None and x.n)
                lead = ([""] if has_group else []) + [f"↳ evalkit `{gen}`"]
                out.append("| " + " | ".join(lead + [_ours(x) for x in cells]) + " |")
        out.append("")
        out.append("Published values are as printed in the paper; evalkit rows: ours (Δ = ours − published), "
                   "on the paper's scale.")
        if self.measured_with:
            out += ["", "Ours measured with:"] + [f"- {k}: {v}" for k, v in self.measured_with.items()]
        if self.differences:
            out += ["", "**Setup differences (ours vs the paper):**"] + [f"- {d}" for d in self.differences]
        if t.notes:
            out += ["", "Notes on the published table:"] + [f"- {n}" for n in t.notes]
        return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|") or " "


def _ours(cell: Cell | None) -> str:
    if cell is None or not cell.n:
        return "" if cell is None or not cell.note else f"n/a ({cell.note})"
    dec = max(_decimals(cell.published), 1) if parse_published(cell.published) else 3
    s = f"{cell.ours_mean:.{dec}f}"
    if cell.ours_sem == cell.ours_sem and cell.n > 1:
        s += f" ± {cell.ours_sem:.{dec}f}"
    d = cell.delta
    if d == d:
        s += f" (Δ {d:+.{dec}f})"
    return s


def _aggregate_values(df: pd.DataFrame, boolean: bool) -> tuple[float, float, int]:
    per_case = df.groupby("case_id")["value"].mean().to_numpy(float)
    if boolean:
        per_case = (per_case > 0.5).astype(float)
    if per_case.size == 0:
        return math.nan, math.nan, 0
    return float(per_case.mean()), sem(per_case), int(per_case.size)


def _describe_config(cfg: dict) -> str:
    backend = cfg.get("backend")
    opts = ", ".join(f"{k}={v}" for k, v in sorted(cfg.items()) if k not in ("name", "version", "backend"))
    return (f"{cfg.get('name', '?')} v{cfg.get('version', '?')}"
            + (f", backend {backend} ({checkpoint_of(backend)})" if backend else "")
            + (f", {opts}" if opts else ""))


def _match_config(df: pd.DataFrame, col: PaperColumn) -> tuple[pd.DataFrame, list[str]]:
    """Rows of the metric config closest to the column's definition, plus what differs."""
    configs = {c: _cfg(c) for c in df["metric_config"].unique()}

    def score(cfg: dict) -> tuple[int, int]:
        backend_ok = col.backend is None or cfg.get("backend") == col.backend
        opts_ok = sum(cfg.get(k) == v for k, v in col.options.items())
        return int(backend_ok), opts_ok

    best = max(configs, key=lambda c: score(configs[c]))
    cfg = configs[best]
    diffs = []
    if col.backend and cfg.get("backend") != col.backend:
        diffs.append(f"backend {cfg.get('backend')} ({checkpoint_of(cfg.get('backend'))}) instead of "
                     f"{col.backend} ({checkpoint_of(col.backend)})")
    for k, v in col.options.items():
        if cfg.get(k) != v:
            diffs.append(f"option {k}={cfg.get(k)!r} instead of {v!r}")
    return df[df["metric_config"] == best], diffs


def reproduce(table: PaperTable, run: RunData, mapping: dict[str, str] | None = None) -> Reproduction:
    """Ours next to the published values; ``mapping`` maps a row label to a run generator."""
    mapping = dict(mapping or {})
    res = run.results
    gens_in_run = set(res["generator"]) | set(run.generations.get("generator", pd.Series(dtype=str)))
    gen_cfg: dict[str, dict] = {}
    for g, c in res[["generator", "generator_config"]].drop_duplicates("generator").itertuples(index=False):
        gen_cfg[g] = _cfg(c)
    cells: list[Cell] = []
    differences: list[str] = []
    measured_with: dict[str, str] = {}

    def diff(msg: str) -> None:
        if msg not in differences:
            differences.append(msg)

    for row in table.rows:
        gen = mapping.get(row.label, row.generator)
        matched = gen is not None and gen in gens_in_run
        if matched:
            run_backbone = gen_cfg.get(gen, {}).get("backbone")
            if row.backbone and run_backbone and _norm(run_backbone) != _norm(row.backbone):
                diff(f"{row.label}: paper backbone {row.backbone}; run's `{gen}` uses {run_backbone}")
            elif row.backbone and not run_backbone:
                diff(f"{row.label}: paper backbone {row.backbone}; run's `{gen}` has no backbone "
                     f"(weight-free or unspecified)")
        for col in table.columns:
            cell = Cell(row.label, row.group, col.key, row.values.get(col.key, ""))
            cells.append(cell)
            if not matched:
                continue
            cell.generator = gen
            if col.metric is None:
                cell.note = "no evalkit metric"
                continue
            if col.backbone:
                run_backbone = gen_cfg.get(gen, {}).get("backbone")
                if run_backbone and _norm(run_backbone) != _norm(col.backbone):
                    cell.note = f"column is {col.backbone}"
                    continue
            cats = {c.lower() for c in (row.category or col.category)}
            if col.metric.startswith("runtime:"):
                _runtime_cell(cell, col, row, gen, run, cats, diff)
                continue
            spec = metric_spec(col.metric)
            sub = res[(res["generator"] == gen) & (res["metric_name"] == col.metric) & (res["status"] == "ok")]
            if cats:
                sub = sub[sub["category"].str.lower().isin(cats)]
            if sub.empty:
                cell.note = "not measured in this run"
                continue
            sub, diffs = _match_config(sub, col)
            label = f"{col.label} ({col.group})" if col.group else col.label
            measured_with.setdefault(label, _describe_config(_cfg(sub["metric_config"].iloc[0])))
            for d in diffs:
                diff(f"{col.label} ({col.metric}): {d}")
            mean, se, n = _aggregate_values(sub, bool(spec.boolean) if spec else False)
            cell.ours_mean, cell.ours_sem, cell.n = mean * col.paper_scale, se * col.paper_scale, n
    # benchmark and provenance facts stated plainly
    plan_ds = run.plan.get("dataset")
    ds_name = plan_ds.get("name") if isinstance(plan_ds, dict) else plan_ds
    if any(c.n for c in cells):
        diff(f"benchmark: paper — {table.benchmark}; run — dataset {ds_name or 'unknown'}, "
             f"{res['case_id'].nunique()} cases, seeds {sorted(set(res['seed'].tolist()))}")
        prov = run.provenance
        if prov.get("device"):
            diff(f"device: {prov.get('device')} (evalkit {prov.get('evalkit_version', '?')}, "
                 f"commit {prov.get('git_commit', '?')})")
    return Reproduction(table, run, cells, differences, mapping, measured_with)


def _runtime_cell(cell: Cell, col: PaperColumn, row: PaperRow, gen: str, run: RunData, cats: set,
                  diff) -> None:
    g = run.generations
    if g.empty:
        cell.note = "no timings"
        return
    g = g[g["status"] == "ok"]
    if cats:
        g = g[g["category"].str.lower().isin(cats)]
    stage = col.metric.split(":", 1)[1]
    mine = g[g["generator"] == gen]
    if mine.empty:
        cell.note = "no timings"
        return
    if stage == "overhead":
        base = row.base_generator
        base_rows = g[g["generator"] == base] if base else g.iloc[0:0]
        if base_rows.empty:
            cell.note = f"base generator {base} not in run" if base else "no base generator"
            return
        inf = float(base_rows["inference"].mean())
        if inf <= 0:
            cell.note = f"base generator {base} has zero inference time"
            return
        vals = mine["total"].to_numpy(float) / inf
        cell.ours_mean, cell.ours_sem, cell.n = float(vals.mean()), sem(vals), int(vals.size)
        return
    vals = mine.groupby("case_id")[stage].mean().to_numpy(float)
    cell.ours_mean, cell.ours_sem, cell.n = float(np.mean(vals)), sem(vals), int(vals.size)
    diff("runtime: paper measured on the paper's hardware/resolution; ours on "
         f"{run.provenance.get('device', 'unknown device')} at the run's resolution")
