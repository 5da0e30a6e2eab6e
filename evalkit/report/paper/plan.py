"""The run plan of a paper table (``evalkit reproduce TABLE --run`` / ``--plan``).

The table's dataset (``dataset``) with ``--root``; every row × column group with its release
preset (:mod:`evalkit.report.paper.presets`), a submitted method's ``videos`` folder where given
(``--submission ROW=DIR``); the columns' metrics with their backend and options. The plan is
built from a run-config mapping by :func:`evalkit.run.plan.plan_from_config`, so the YAML that
``--plan`` writes is the same plan (same run id) under ``evalkit run FILE``. It runs through the
normal runner: cached, resumable, sharded.

``--limit N`` keeps the first N cases of each case category (``limit_per_category``), so every
column group of a table still has cases.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from evalkit.errors import EvalkitError
from evalkit.run.plan import ComponentSpec, Plan, plan_from_config

from .presets import apply_overrides, check_overrides, resolved, row_specs
from .tables import RUNTIME, PaperTable, PaperTableError


@dataclass(frozen=True)
class Entry:
    """One generator of the plan and the table row (and column backbone) it reproduces."""
    row: str
    backbone: str | None
    name: str
    options: dict[str, Any]


@dataclass
class TablePlan:
    table: PaperTable
    plan: Plan
    entries: list[Entry]
    left_out: list[str] = field(default_factory=list)   # rows not in the plan, each with why

    def to_yaml(self) -> str:
        """The plan as a run config (``evalkit run FILE`` runs exactly this plan), with the rows
        each generator reproduces and the rows left out as comments."""
        import yaml

        head = [f"# evalkit reproduce {self.table.id} --plan: {self.table.paper}, {self.table.table}",
                f"# run it with: evalkit run THIS_FILE --out DIR; compare: evalkit reproduce {self.table.id} DIR"]
        head += [f"#   row {e.row!r}{f' ({e.backbone})' if e.backbone else ''}: {e.name}" for e in self.entries]
        head += [f"#   left out: {line}" for line in self.left_out]
        head += [f"#   pending (not in evalkit yet) for row {r.label!r}: {item['option']}"
                 + (f"={item['value']}" if item.get("value") is not None else "") + f" ({item['why']})"
                 for r in self.table.rows if r.label in {e.row for e in self.entries} for item in r.pending]
        body = yaml.safe_dump(json.loads(json.dumps(self.plan.to_dict())), sort_keys=False, allow_unicode=True)
        return "\n".join(head) + "\n" + body


def metric_specs(table: PaperTable, overrides=()) -> list[dict[str, Any]]:
    """The columns' metrics, once each: the paper's backend (the first that matches its setup;
    the metric's default where the paper names none) and the column's options."""
    from evalkit.registry import METRICS

    specs: list[dict[str, Any]] = []
    for col in table.columns:
        if col.metric is None:
            continue
        if col.metric.startswith(RUNTIME):   # the stage timings of every generation: recorded by `runtime`
            spec = {"name": "runtime"}
        else:
            spec = {"name": col.metric, **({"backend": col.backends[0]} if col.backends else {}), **col.options}
        spec = {"name": spec["name"], **apply_overrides(spec["name"], {k: v for k, v in spec.items() if k != "name"},
                                                        overrides, METRICS)}
        if spec not in specs:
            specs.append(spec)
    return specs


def build_table_plan(table: PaperTable, *, root: str | None = None, limit: Any = None, seeds: Any = None,
                     submissions: Mapping[str, Sequence[str]] | None = None, overrides=()) -> TablePlan:
    """The plan reproducing ``table`` (see the module doc); a PaperTableError when nothing can run."""
    submissions = {k: list(v) for k, v in (submissions or {}).items()}
    rows = {r.label: r for r in table.rows}
    for label in submissions:
        if label not in rows:
            raise PaperTableError(f"--submission {label}=…: {table.id} has no row {label!r} "
                                  f"(rows: {', '.join(table.row_labels())})")
        if not rows[label].submission:
            raise PaperTableError(f"--submission {label}=…: row {label!r} runs evalkit's "
                                  f"{rows[label].generator or 'nothing'}; submissions fill rows of methods evalkit "
                                  f"does not implement ({', '.join(r.label for r in table.rows if r.submission)})")
    if not table.dataset:
        raise PaperTableError(f"{table.id}: the table names no evalkit dataset (`dataset:`)")
    entries: list[Entry] = []
    left_out: list[str] = []
    done: set[str] = set()
    for row in table.rows:
        if row.label in done:   # a label repeated per row group (LMP's Ori./Sub./Back./Mean): one run
            continue
        done.add(row.label)
        if row.published_only:
            left_out.append(f"{row.label}: {row.published_only}")
        elif row.submission:
            dirs = submissions.get(row.label, [])
            if not dirs:
                left_out.append(f"{row.label}: {row.submission} is not implemented in evalkit; score its videos "
                                f"with --submission '{row.label}=DIR'")
            for i, folder in enumerate(dirs):
                name = row.submission if len(dirs) == 1 else f"{row.submission}-{i + 1}"
                entries.append(Entry(row.label, None, "videos", {"dir": str(Path(folder)), "name": name}))
        else:
            generator = row.generator
            assert generator is not None  # presets check: a row names a generator, a submission or neither
            for backbone, options in row_specs(table, row):
                entries.append(Entry(row.label, backbone, generator, apply_overrides(generator, options, overrides)))
    metrics = metric_specs(table, overrides)
    if not metrics:
        raise PaperTableError(f"{table.id}: no column has an evalkit metric "
                              f"({', '.join(c.label for c in table.columns)}): nothing to measure")
    if not entries:
        raise PaperTableError(f"{table.id}: no row can run: " + "; ".join(left_out))
    dataset = dict(table.dataset)
    check_overrides(overrides, {e.name for e in entries}, {m["name"] for m in metrics}, dataset["name"])
    dataset.update({key: value for scope, key, value in overrides if scope == dataset["name"]})
    generators: list[dict[str, Any]] = []
    for e in entries:
        spec = ComponentSpec(e.name, e.options).to_dict()
        if spec not in generators:   # rows sharing one setting (DiTFlow's repeated default) share one run
            generators.append(spec)
    cfg = {"dataset": dataset, "generators": generators, "metrics": metrics,
           "seeds": list(table.seeds) if table.seeds else 0}
    if limit is not None:
        cfg["limit_per_category"] = limit
    try:
        plan = plan_from_config(cfg, seeds=seeds, root=root)
    except EvalkitError as exc:   # a plan check (seeds, options, case kinds), named with the table
        raise PaperTableError(f"{table.id}: {exc}") from None
    return TablePlan(table, plan, entries, left_out)


def preset_mapping(table: PaperTable, generator_configs: Mapping[str, dict], overrides=()) -> dict[str, list[str]]:
    """Row label -> the run's generators whose recorded configuration is the row's preset (with
    the overrides), one per column group where found. A submission row takes the run's ``videos``
    generator labelled with its submission name."""
    out: dict[str, list[str]] = {}
    for row in table.rows:
        found: list[str] = []
        if row.generator:
            for _, options in row_specs(table, row):
                want = resolved(row.generator, apply_overrides(row.generator, options, overrides))
                found += [g for g, cfg in generator_configs.items() if cfg.get("name") == row.generator
                          and all(cfg.get(k) == v for k, v in want.items()) and g not in found]
        elif row.submission:
            found = [g for g, cfg in generator_configs.items() if cfg.get("name") == "videos"
                     and (cfg.get("label") == row.submission or str(cfg.get("label", "")).startswith(
                         f"{row.submission}-"))]
        if found:
            out[row.label] = found
    return out
