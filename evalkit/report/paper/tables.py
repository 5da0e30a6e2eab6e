"""Published paper tables (baselines/papers/*.yaml) as typed data.

A paper table is data: citation, table number, benchmark, the hardware/resolution of timings;
per column the evalkit metric, the paper's scale (×100 or raw), the paper's metric setup as the
paper states it (``setup``: tracker, model) and the evalkit backends that match it, options,
the unit of the paper's mean ± S.E.M. (``over``: cases or videos) and, for grouped tables, the
backbone and case categories; per row the evalkit generator that reproduces it, its backbone
and, for runtime overheads, the row of its base model. Published values are kept as the strings
printed in the paper ("91.6 ± 0.9", "0.9550", "×1.2") so they render exactly as published.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import EvalkitError

from ..aggregate import OVER, metric_spec

_NUM = re.compile(r"[-+]?\d+(?:\.\d+)?")
RUNTIME = "runtime:"


class PaperTableError(EvalkitError):
    pass


@dataclass(frozen=True)
class PaperColumn:
    key: str
    label: str
    higher_is_better: bool
    metric: str | None                 # evalkit metric name, "runtime:<stage>", or None (not implemented)
    paper_scale: float = 1.0
    backends: tuple[str, ...] = ()     # evalkit backends matching the paper's setup; () = paper names none
    setup: str = ""                    # the paper's own words on the metric setup (tracker, model)
    options: dict = field(default_factory=dict)
    over: str = "cases"                # unit of the paper's mean ± S.E.M.: cases or videos
    group: str = ""
    backbone: str | None = None        # column group's backbone (DiTFlow 5B / 2B): picks the generator
    category: tuple[str, ...] = ()     # case categories the column averages over; () = all
    unit: str = ""
    definition: str = ""

    @property
    def heading(self) -> str:
        return f"{self.label} ({self.group})" if self.group else self.label


@dataclass(frozen=True)
class PaperRow:
    label: str
    values: dict
    generator: str | None = None       # evalkit generator (registry name or run label) reproducing it
    # the release preset (``evalkit reproduce TABLE --run``): the generator's options as its authors ran
    # it, checked against the registry when the table is loaded
    options: dict = field(default_factory=dict)
    by_backbone: dict = field(default_factory=dict)   # column backbone -> options that differ there
    why: dict = field(default_factory=dict)           # option -> where its value comes from
    pending: tuple[dict, ...] = ()     # intended options evalkit lacks yet: {option, value, why}
    submission: str | None = None      # a method evalkit does not implement: its `videos` submission's name
    published_only: str = ""           # why nothing can reproduce the row (e.g. an analytic bound)
    notes: str = ""
    backbone: str | None = None
    group: str = ""
    category: tuple[str, ...] = ()
    base_row: str | None = None        # the row of the base model (Overhead = Sum / its inference)
    source: str = ""
    printed: str = ""                  # the row header as printed, where the label adds context
    quote: str = ""                    # for values given in prose: the sentence fragment holding them


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
    hardware: str = ""
    resolution: str = ""
    notes: tuple[str, ...] = ()
    path: str = ""
    dataset: dict = field(default_factory=dict)   # the benchmark as an evalkit dataset spec {name, options}
    seeds: tuple[int, ...] = ()                   # the paper's seeds where stated; () = evalkit's default

    def column_backbones(self) -> list[str]:
        """The column groups' backbones in column order ([] when the columns fix none)."""
        return list(dict.fromkeys(c.backbone for c in self.columns if c.backbone))

    def published(self, row_label: str, column_key: str, group: str | None = None) -> str:
        for r in self.rows:
            if r.label == row_label and (group is None or r.group == group):
                return r.values.get(column_key, "")
        raise KeyError(f"{self.id}: no row {row_label!r}")

    def row_labels(self) -> list[str]:
        return list(dict.fromkeys(r.label for r in self.rows))


def parse_published(text: Any) -> tuple[float, float | None] | None:
    """'97.0 ± 0.4' -> (97.0, 0.4); '78.8' -> (78.8, None); '×1.2' -> (1.2, None); '-' -> None."""
    if text is None:
        return None
    nums = _NUM.findall(str(text))
    if not nums:
        return None
    mean = float(nums[0])
    return mean, (float(nums[1]) if len(nums) > 1 and "±" in str(text) else None)


def decimals_of(text: str) -> int:
    """Digits after the point of a published value ('0.785' -> 3)."""
    nums = _NUM.findall(str(text))
    return len(nums[0].split(".")[1]) if nums and "." in nums[0] else 0


# -- loading -----------------------------------------------------------------------------------

def papers_dir() -> Path:
    """$EVALKIT_BASELINES/papers, else ./baselines/papers, else the tables the package carries:
    ``evalkit/_papers``, a symlink to the checkout's baselines/papers that an installed wheel
    ships as package data (as ``evalkit/_datasets`` ships datasets/), so `evalkit reproduce`
    works after a plain ``pip install``."""
    from importlib.resources import files

    env = os.environ.get("EVALKIT_BASELINES")
    candidates = ([Path(env) / "papers"] if env else []) + [
        Path.cwd() / "baselines" / "papers", Path(str(files("evalkit") / "_papers"))]
    for c in candidates:
        if c.is_dir():
            return c
    raise PaperTableError(f"no paper tables found in {', '.join(map(str, candidates))} (set EVALKIT_BASELINES "
                          f"to a folder holding papers/)")


def available_tables() -> list[str]:
    return sorted(p.stem for p in papers_dir().glob("*.yaml"))


def _tuple(v) -> tuple[str, ...]:
    if v is None:
        return ()
    return tuple(v) if isinstance(v, (list, tuple)) else (str(v),)


def _column(c: dict, where: str) -> PaperColumn:
    col = PaperColumn(key=c["key"], label=c["label"], higher_is_better=bool(c["higher_is_better"]),
                      metric=c.get("metric"), paper_scale=float(c.get("paper_scale", 1)),
                      backends=_tuple(c.get("backend")), setup=c.get("setup", ""),
                      options=dict(c.get("options") or {}), over=c.get("over", "cases"), group=c.get("group", ""),
                      backbone=c.get("backbone"), category=_tuple(c.get("category")), unit=c.get("unit", ""),
                      definition=c.get("definition", ""))
    if col.over not in OVER:
        raise PaperTableError(f"{where}: column {col.key!r}: over={col.over!r} is not one of {', '.join(OVER)}")
    spec = metric_spec(col.metric) if col.metric and not col.metric.startswith(RUNTIME) else None
    unknown = [b for b in col.backends if spec is not None and b not in spec.backends]
    if unknown and spec is not None:
        raise PaperTableError(f"{where}: column {col.key!r}: backend(s) {unknown} are not backends of "
                              f"{col.metric} ({', '.join(spec.backends) or 'none'})")
    return col


def _row(r: dict) -> PaperRow:
    gen = r.get("generator")
    options = {}
    if isinstance(gen, dict):   # a full spec: {name, option: value, ...}
        options = {k: v for k, v in gen.items() if k != "name"}
        gen = gen.get("name")
    return PaperRow(label=str(r["label"]), values={k: str(v) for k, v in r["values"].items()},
                    generator=gen, backbone=r.get("backbone"), group=r.get("group", ""),
                    category=_tuple(r.get("category")), base_row=r.get("base_row"), source=r.get("source", ""),
                    printed=str(r.get("printed", "")), quote=r.get("quote", ""), options=options,
                    by_backbone={str(k): dict(v or {}) for k, v in (r.get("by_backbone") or {}).items()},
                    why=dict(r.get("why") or {}), pending=tuple(r.get("pending") or ()),
                    submission=r.get("submission"), published_only=str(r.get("published_only") or ""),
                    notes=str(r.get("notes") or ""))


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
        cols = tuple(_column(c, str(p)) for c in doc["columns"])
        rows = tuple(_row(r) for r in doc["rows"])
        table = PaperTable(id=doc["id"], paper=doc["paper"], citation=doc["citation"], table=doc["table"],
                           caption=doc.get("caption", ""), columns=cols, rows=rows, task=doc.get("task", ""),
                           benchmark=doc.get("benchmark", ""), aggregation=doc.get("aggregation", ""),
                           hardware=doc.get("hardware", ""), resolution=doc.get("resolution", ""),
                           notes=tuple(doc.get("notes") or ()), path=str(p),
                           dataset=_dataset(doc.get("dataset")), seeds=tuple(doc.get("seeds") or ()))
    except (KeyError, TypeError) as exc:
        raise PaperTableError(f"{p}: missing or malformed field {exc}") from None
    keys = {c.key for c in cols}
    labels = set(table.row_labels())
    for r in rows:
        extra = set(r.values) - keys
        if extra:
            raise PaperTableError(f"{p}: row {r.label!r} has values for unknown columns {sorted(extra)}")
        if r.base_row is not None and r.base_row not in labels:
            raise PaperTableError(f"{p}: row {r.label!r}: base_row {r.base_row!r} is not a row of the table")
    from .presets import check_presets  # the registry check of every row's preset

    check_presets(table)
    return table


def _dataset(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"name": value}
    if not isinstance(value, dict) or "name" not in value:
        raise TypeError("'dataset' (a mapping with a name)")
    return dict(value)
