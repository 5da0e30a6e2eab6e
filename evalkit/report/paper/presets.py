"""Release presets of paper-table rows: the generator spec each row's authors ran, per column group.

A row names its generator as a full spec (``generator: {name: ditflow, blocks: 20, ...}``), why
each option has its value (``why``: the release's setting, the paper's, or our choice where
neither says), the options that differ per column backbone (``by_backbone``), and the options
evalkit lacks yet (``pending``: written down, never live, so the table still runs). Where the
columns fix a backbone (DiTFlow Table 1: CogVideoX-5B / 2B), each group's spec gets that
backbone. Rows of methods evalkit does not implement name their ``submission`` (a ``videos``
folder given at run time); rows nothing can reproduce say why (``published_only``).

:func:`check_presets` validates all of it against the registry when a table is loaded: an
unknown generator or option is one error naming the table and the row.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from evalkit.errors import EvalkitError
from evalkit.registry import DATASETS, GENERATORS, METRICS


class PresetError(EvalkitError):
    pass


def norm_backbone(name: Any) -> str:
    """'CogVideoX-5B' and 'cogvideox-5b' compare equal (a paper's spelling vs evalkit's)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def evalkit_backbone(display: str, where: str) -> str:
    """The evalkit backbone (a row of BACKBONES) a paper's backbone name stands for."""
    from evalkit.generators.backbones import BACKBONES

    for name in BACKBONES:
        if norm_backbone(name) == norm_backbone(display):
            return name
    raise PresetError(f"{where}: backbone {display!r} is no evalkit backbone ({', '.join(BACKBONES)})")


def row_specs(table, row) -> list[tuple[str | None, dict[str, Any]]]:
    """(column backbone or None, the options of ``row``'s generator there) per column group."""
    groups = table.column_backbones()
    if not groups:
        return [(None, dict(row.options))]
    takes_backbone = "backbone" in GENERATORS.get(row.generator).defaults
    out = []
    for group in groups:
        options = dict(row.options)
        if takes_backbone:
            options["backbone"] = evalkit_backbone(group, f"{table.id}: column group {group!r}")
        out.append((group, {**options, **row.by_backbone.get(group, {})}))
    return out


def parse_overrides(items: Iterable[str]) -> list[tuple[str | None, str, Any]]:
    """``--set KEY=VALUE`` (every generator of the plan that has the option) or
    ``--set NAME.KEY=VALUE`` (the generator or metric NAME): (name, key, value) triples."""
    import yaml

    out = []
    for item in items:
        target, sep, value = str(item).partition("=")
        scope, _, key = target.strip().rpartition(".")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or (scope and not re.fullmatch(
                r"[a-z0-9.\-]+", scope)):
            raise PresetError(f"--set {item!r}: expected KEY=VALUE or NAME.KEY=VALUE")
        try:
            parsed = yaml.safe_load(value.strip())
        except yaml.YAMLError:
            parsed = value.strip()
        out.append((scope or None, key, parsed))
    return out


def apply_overrides(name: str, options: dict[str, Any], overrides, registry=GENERATORS) -> dict[str, Any]:
    """``options`` of the component ``name`` with the overrides that reach it (an unscoped one
    reaches the generators that have the option; a scoped one the component of that name)."""
    out = dict(options)
    defaults = registry.get(name).defaults
    for scope, key, value in overrides:
        if scope == name or (scope is None and registry is GENERATORS and key in defaults):
            out[key] = value
    return out


def check_overrides(overrides, generators: Iterable[str], metrics: Iterable[str], dataset: str) -> None:
    """Every override reaches a component of the plan (else it would silently change nothing)."""
    generators, metrics = set(generators), set(metrics)
    names = generators | metrics | {dataset}
    for scope, key, _ in overrides:
        if scope is None:
            if not any(key in GENERATORS.get(g).defaults for g in generators):
                raise PresetError(f"--set {key}=…: no generator of the plan has an option {key!r}")
            continue
        if scope not in names:
            raise PresetError(f"--set {scope}.{key}=…: {scope!r} is not the dataset, a generator or a metric of "
                              f"the plan ({', '.join(sorted(names))})")
        registry = GENERATORS if scope in generators else METRICS if scope in metrics else DATASETS
        if key not in registry.get(scope).defaults and not (key == "backend" and registry is METRICS) and not (
                key == "root" and registry is DATASETS):
            raise PresetError(f"--set {scope}.{key}=…: {scope} has no option {key!r}")


def resolved(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Every option of generator ``name`` (defaults filled in), as JSON values (tuples as lists):
    what a run records in ``generator_config``, to compare a run's generator with a preset."""
    cls = GENERATORS.get(name)
    return json.loads(json.dumps({**cls.defaults, **cls.checked_options(options)}, default=str))


def check_presets(table) -> None:
    """Every row's preset against the registry (and the table's dataset): one PresetError naming
    the table, the row and what is wrong."""
    kind = _dataset_kind(table)
    for row in table.rows:
        where = f"{table.id}: row {row.label!r}"
        chosen = [k for k in ("generator", "submission", "published_only") if getattr(row, k)]
        if len(chosen) != 1:
            raise PresetError(f"{where}: give exactly one of generator (an evalkit generator), submission (a "
                              f"method evalkit does not implement) or published_only (why nothing runs it)"
                              + (f"; it has {', '.join(chosen)}" if chosen else ""))
        for item in row.pending:
            if not (isinstance(item, dict) and item.get("option") and item.get("why")):
                raise PresetError(f"{where}: pending entries are {{option, value, why}}, got {item!r}")
        if not row.generator:
            if row.options or row.by_backbone or row.why:
                raise PresetError(f"{where}: options, by_backbone and why belong to a row with a generator")
            continue
        try:
            cls = GENERATORS.get(row.generator)
        except EvalkitError as exc:
            raise PresetError(f"{where}: {exc}") from None
        if kind and kind not in cls.case_kinds:
            raise PresetError(f"{where}: generator {row.generator!r} accepts {'/'.join(cls.case_kinds)} cases; "
                              f"the table's dataset {table.dataset['name']!r} has {kind} cases")
        unknown_groups = set(row.by_backbone) - set(table.column_backbones())
        if unknown_groups:
            raise PresetError(f"{where}: by_backbone names {sorted(unknown_groups)}, not column backbones of the "
                              f"table ({', '.join(table.column_backbones()) or 'none'})")
        for group, options in row_specs(table, row):
            try:
                cls.checked_options(options)
            except EvalkitError as exc:
                raise PresetError(f"{where}{f' ({group})' if group else ''}: {exc}") from None
            if "backbone" in options:
                evalkit_backbone(options["backbone"], where)
                if row.backbone and not group and norm_backbone(row.backbone) != norm_backbone(options["backbone"]):
                    raise PresetError(f"{where}: the paper's backbone {row.backbone!r} but the preset runs "
                                      f"{options['backbone']!r}")

        set_here = set(row.options) | {k for o in row.by_backbone.values() for k in o}
        # the backbone of a row that names the paper's backbone is explained by it (checked equal below)
        explained = set(row.why) | ({"backbone"} if row.backbone else set())
        if (missing := sorted(set_here - explained)):
            raise PresetError(f"{where}: option(s) {missing} have no `why` (the release's setting, the paper's, "
                              f"or the choice made where neither says)")
        if (stale := sorted(set(row.why) - set_here)):
            raise PresetError(f"{where}: `why` explains option(s) {stale} the preset does not set")


def _dataset_kind(table) -> str | None:
    if not table.dataset:
        return None
    spec = dict(table.dataset)
    name = spec.pop("name")
    try:
        cls = DATASETS.get(name)
        cls.checked_options({k: v for k, v in spec.items() if k != "root"})
    except EvalkitError as exc:
        raise PresetError(f"{table.id}: dataset: {exc}") from None
    return getattr(cls, "case_kind", None)
