"""Paper-table reproduction: published numbers (evalkit.report.paper.tables) next to a run's.

``reproduce(table, run, mapping)`` computes ours with the seed-table aggregation
(:func:`evalkit.report.aggregate.aggregate`: mean ± S.E.M., seeds averaged, booleans as
fractions) in the paper's unit (cases, or every video of a multi-shot set) and on the paper's
scale, and lists every setup difference: backbone, metric backend (also where the paper names
none), options, error-bar unit, benchmark, hardware and resolution of timings.

Which generator reproduces a row: ``mapping[row label]`` (one or several run generators, e.g.
the 5B and the 2B DiTFlow), else the run generators whose recorded configuration is the row's
release preset (:mod:`evalkit.report.paper.presets`; what ``evalkit reproduce TABLE --run`` runs), else
every run generator whose label or registry name is the row's ``generator`` (or, for a method
evalkit does not implement, its ``submission`` name); a run generator that differs from the
row's preset is listed with each differing option. Where columns fix a backbone (DiTFlow
Table 1), each column takes the candidate on that backbone (a submission's declared one counts),
so both halves fill in one call. A runtime Overhead divides by the inference time
of the generator reproducing the row's ``base_row``, resolved the same way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..aggregate import aggregate, sem
from ..definitions import Definition, describe_backend, parse_config
from ..sources import RunData
from .plan import preset_mapping
from .presets import resolved, row_specs
from .reproduction import Cell, Reproduction
from .tables import (
    RUNTIME,
    PaperColumn,
    PaperRow,
    PaperTable,
    PaperTableError,
    available_tables,
    load_table,
    parse_published,
)

#: options that say where the weights are, not what runs (the provenance records their revision)
PRESET_IGNORED = ("model_path",)

__all__ = ["reproduce", "load_table", "available_tables", "parse_published", "Reproduction", "Cell",
           "PaperTableError"]


def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


class _Generators:
    """The run's generators: labels, registry names, backbones; which of them reproduce a row."""

    def __init__(self, run: RunData, table: PaperTable, mapping: Mapping[str, str | Sequence[str]], overrides=()):
        res = run.results
        self.table, self.overrides = table, overrides
        self.submitted = {g: p["submission"] for g, p in (run.provenance.get("generators") or {}).items()
                          if isinstance(p, dict) and isinstance(p.get("submission"), dict)}
        self.labels = sorted(set(res["generator"]) | set(run.generations.get("generator", pd.Series(dtype=str))))
        self.config = {g: parse_config(c, what=f"generator_config of {g}") for g, c in
                       res[["generator", "generator_config"]].drop_duplicates("generator").itertuples(index=False)}
        self.mapping = {k: [v] if isinstance(v, str) else list(v) for k, v in (mapping or {}).items()}
        rows = table.row_labels()
        for row, targets in self.mapping.items():
            if row not in rows:
                raise PaperTableError(f"--map {row}=…: {table.id} has no row {row!r} (rows: {', '.join(rows)})")
            for t in targets:
                if t not in self.labels:
                    raise PaperTableError(f"--map {row}={t}: no generator {t!r} in run {run.run_id} "
                                          f"(generators: {', '.join(self.labels) or 'none'})")
        self.rows = {r.label: r for r in table.rows}
        self.presets = preset_mapping(table, self.config, overrides)

    def backbone(self, gen: str) -> str | None:
        """The generator's backbone option, or the backbone a submission declares (submission.yaml)."""
        return self.config.get(gen, {}).get("backbone") or self.submitted.get(gen, {}).get("backbone")

    def of_row(self, row: PaperRow) -> list[str]:
        if row.label in self.mapping:
            return self.mapping[row.label]
        if row.label in self.presets:
            return self.presets[row.label]
        name = row.generator or row.submission
        if not name:
            return []
        return [g for g in self.labels if g == name or self.config.get(g, {}).get("name") == name]

    def preset_differences(self, row: PaperRow, gen: str, column_backbone: str | None) -> list[str]:
        """The options of the run's ``gen`` that differ from ``row``'s preset (on that column group)."""
        cfg = self.config.get(gen, {})
        if not row.generator or cfg.get("name") != row.generator:
            return []
        options = dict(row_specs(self.table, row)[0][1])
        for group, opts in row_specs(self.table, row):
            if group is not None and group == column_backbone:
                options = opts
        want = resolved(row.generator, options)
        return [f"{k}={cfg.get(k)!r} (preset {v!r}" + (f": {row.why[k]})" if k in row.why else ")")
                for k, v in want.items() if k not in PRESET_IGNORED and k in cfg and cfg[k] != v]

    def pick(self, candidates: list[str], what: str, *, require: str | None = None,
             prefer: str | None = None) -> tuple[str | None, str]:
        """The one candidate: on backbone ``require`` (a column's; a candidate without a backbone
        fits any), then, among several, on ``prefer`` (the row's). (None, why) when none fits."""
        if require:
            fits = [g for g in candidates if not self.backbone(g) or _norm(self.backbone(g)) == _norm(require)]
            if candidates and not fits:
                return None, f"column is {require}"
            candidates = fits
        if len(candidates) > 1 and prefer:
            on_row = [g for g in candidates if _norm(self.backbone(g) or "") == _norm(prefer)]
            if not on_row and all(self.backbone(g) for g in candidates):
                # several generators, none on the row's backbone (mbq-table2's AnimateDiff row in a run
                # of vanilla on ZeroScope and VideoCrafter2): none reproduces it
                return None, f"no generator on {prefer} (--map ROW=GENERATOR)"
            candidates = on_row or candidates
        if len(candidates) > 1:
            raise PaperTableError(f"{what}: generators {', '.join(candidates)} all match; choose one with "
                                  f"--map ROW=GENERATOR")
        return (candidates[0], "") if candidates else (None, "no generator")


@dataclass
class _Context:
    table: PaperTable
    run: RunData
    gens: _Generators
    differences: list[str] = field(default_factory=list)
    measured_with: dict[str, str] = field(default_factory=dict)

    def measured(self, col: PaperColumn, how: str) -> None:
        """How ours was measured, once per column label (per heading where groups differ)."""
        if self.measured_with.setdefault(col.label, how) != how:
            self.measured_with.setdefault(col.heading, how)

    def diff(self, msg: str) -> None:
        if msg not in self.differences:
            self.differences.append(msg)


def reproduce(table: PaperTable, run: RunData, mapping: Mapping[str, str | Sequence[str]] | None = None,
              overrides=()) -> Reproduction:
    """Ours next to the published values; ``mapping``: row label -> run generator(s); ``overrides``:
    the ``--set`` options the run changed from the presets (see :mod:`evalkit.report.paper.presets`)."""
    ctx = _Context(table, run, _Generators(run, table, mapping or {}, overrides))
    cells: list[Cell] = []
    for row in table.rows:
        candidates = ctx.gens.of_row(row)
        for col in table.columns:
            cell = Cell(row.label, row.group, col.key, row.values.get(col.key, ""))
            cells.append(cell)
            if candidates:
                _fill(ctx, cell, row, col, candidates)
    if any(c.n for c in cells):
        res = run.results
        plan_ds = run.plan.get("dataset")
        ds_name = plan_ds.get("name") if isinstance(plan_ds, dict) else plan_ds
        ctx.diff(f"benchmark: paper — {table.benchmark}; run — dataset {ds_name or 'unknown'}, "
                 f"{res['case_id'].nunique()} cases, seeds {sorted(set(res['seed'].tolist()))}")
        prov = run.provenance
        if prov.get("device"):
            ctx.diff(f"device: {prov.get('device')} (evalkit {prov.get('evalkit_version', '?')}, "
                     f"commit {prov.get('git_commit', '?')})")
    return Reproduction(table, run, cells, ctx.differences, ctx.gens.mapping, ctx.measured_with)


def _fill(ctx: _Context, cell: Cell, row: PaperRow, col: PaperColumn, candidates: list[str]) -> None:
    gen, why = ctx.gens.pick(candidates, f"{ctx.table.id} row {row.label!r}, column {col.heading!r}",
                             require=col.backbone, prefer=row.backbone)
    if gen is None:
        cell.note = why
        return
    cell.generator = gen
    changed = ctx.gens.preset_differences(row, gen, col.backbone)
    if changed:
        ctx.diff(f"{row.label}{f' ({col.backbone})' if col.backbone else ''}: run's {gen} differs from the "
                 f"row's preset: {', '.join(changed)}")
    for item in row.pending:
        ctx.diff(f"{row.label}: the authors' setting needs {item['option']}"
                 + (f"={item['value']!r}" if item.get("value") is not None else "")
                 + f", not in evalkit yet ({item['why']})")
    run_backbone = ctx.gens.backbone(gen)
    if row.backbone and _norm(run_backbone or "") != _norm(row.backbone):
        ctx.diff(f"{row.label}: paper backbone {row.backbone}; run's {gen} "
                 + (f"uses {run_backbone}" if run_backbone else "has no backbone (weight-free or unspecified)"))
    if col.metric is None:
        cell.note = "no evalkit metric"
        return
    cats = {c.lower() for c in (row.category or col.category)}
    if col.metric.startswith(RUNTIME):
        _runtime(ctx, cell, row, col, gen, cats, stage=col.metric[len(RUNTIME):])
        return
    res = ctx.run.results
    sub = res[(res["generator"] == gen) & (res["metric_name"] == col.metric) & (res["status"] == "ok")]
    if cats:
        sub = sub[sub["category"].str.lower().isin(cats)]
    if sub.empty:
        cell.note = "not measured in this run"
        return
    sub, definition = _closest_definition(sub, col)
    ctx.measured(col, definition.describe())
    for d in _setup_differences(col, definition):
        ctx.diff(f"{col.label} ({col.metric}): {d}")
    agg = aggregate(sub, by=("generator",), over=col.over).iloc[0]
    cell.ours_mean, cell.ours_sem, cell.n = agg["mean"] * col.paper_scale, agg["sem"] * col.paper_scale, int(agg["n"])
    cell.unit = agg["unit"]
    if col.over == "videos" and cell.unit != "videos":
        ctx.diff(f"{col.label} ({col.metric}): ± over {cell.unit}; the paper's over videos "
                 f"(the run records no per-video values)")


def _closest_definition(sub: pd.DataFrame, col: PaperColumn) -> tuple[pd.DataFrame, Definition]:
    """The rows of the recorded metric definition closest to the column's setup."""
    defs = {c: Definition.of(c) for c in sub["metric_config"].unique()}

    def score(d: Definition) -> tuple[int, int]:
        return (int(not col.backends or d.backend in col.backends),
                sum(d.options.get(k) == v for k, v in col.options.items()))

    best = max(defs, key=lambda c: score(defs[c]))
    return sub[sub["metric_config"] == best], defs[best]


def _setup_differences(col: PaperColumn, d: Definition) -> list[str]:
    """Ours vs the paper's setup of the column: backend (stated or not), then options."""
    out = []
    ours = f"backend {describe_backend(d.backend)}" if d.backend else "no feature backend"
    if col.backends and d.backend not in col.backends:
        out.append(f"{ours}; paper: {col.setup or 'see the column definition'} "
                   f"(evalkit backend {', '.join(col.backends)})")
    elif not col.backends and d.backend:
        out.append(f"{ours}; the paper does not name it: {col.setup or 'backend not stated'}")
    out += [f"option {k}={d.options.get(k)!r} instead of {v!r}" for k, v in col.options.items()
            if d.options.get(k) != v]
    return out


def _runtime(ctx: _Context, cell: Cell, row: PaperRow, col: PaperColumn, gen: str, cats: set, *,
             stage: str) -> None:
    g = ctx.run.generations
    if g.empty:
        cell.note = "no timings"
        return
    g = g[g["status"] == "ok"]
    if cats:
        g = g[g["category"].str.lower().isin(cats)]
    mine = g[g["generator"] == gen].groupby("case_id")
    if not len(mine):
        cell.note = "no timings"
        return
    if stage == "overhead":
        if row.base_row is None:
            cell.note = "no base model"
            return
        base_row = ctx.gens.rows[row.base_row]
        base, why = ctx.gens.pick(ctx.gens.of_row(base_row), f"{ctx.table.id} row {row.label!r}: base row "
                                  f"{base_row.label!r}", prefer=ctx.gens.backbone(gen))
        base_rows = g[g["generator"] == base] if base else g.iloc[0:0]
        if base_rows.empty:
            why = why or f"no timings of {base}"
            cell.note = f"base row {base_row.label}: {why} (--map {base_row.label}=GENERATOR)"
            return
        # the base's inference on the same items (case content), so the ratio compares like with like
        key = "case_hash" if "case_hash" in g and g["case_hash"].fillna("").astype(bool).all() else "case_id"
        same = base_rows[base_rows[key].isin(set(g.loc[g["generator"] == gen, key]))]
        if same.empty:
            cell.note = f"base generator {base} measured on other cases than {gen}"
            return
        if len(same) < len(base_rows):
            ctx.diff(f"{row.label} overhead: base {base} timed on the {same[key].nunique()} cases it shares "
                     f"with {gen} (of its {base_rows[key].nunique()})")
        base_rows = same
        inference = float(base_rows["inference"].mean())
        if inference <= 0:
            cell.note = f"base generator {base} has zero inference time"
            return
        vals = mine["total"].mean().to_numpy(float) / inference
        ctx.measured(col, f"Sum / mean inference of {base} (row {base_row.label})")
    else:
        vals = mine[stage].mean().to_numpy(float)
    cell.ours_mean, cell.ours_sem, cell.n = float(np.mean(vals)), sem(vals), int(vals.size)
    prov = ctx.run.provenance
    ctx.diff(f"runtime: paper measured on {ctx.table.hardware or 'the paper hardware (not stated)'} at "
             f"{ctx.table.resolution or 'the paper resolution'}; ours on {prov.get('device', 'an unknown device')} "
             f"at {_resolution(ctx.gens.config.get(gen, {}))}")


def _resolution(cfg: dict) -> str:
    w, h = cfg.get("width"), cfg.get("height")
    return f"{w}×{h}" if w and h else "the generator's default resolution"

