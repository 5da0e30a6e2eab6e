"""``evalkit list``: every registered dataset, generator, metric, feature backend and analysis."""
from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..registry import ANALYSES, DATASETS, FEATURES, GENERATORS, METRICS
from .app import app

#: the plural a registry kind is listed and selected under
PLURAL = {"dataset": "datasets", "generator": "generators", "metric": "metrics", "feature backend": "features",
          "analysis": "analyses"}


def _describe(kind: str, obj) -> str:
    if kind == "metric":
        s = obj.spec
        arrow = "↑" if s.higher_is_better else "↓"
        backends = f" backends: {', '.join(s.backends)}" if s.backends else ""
        return f"{arrow} {', '.join(s.case_kinds)}.{backends} ({s.reference})"
    if kind == "generator":
        return ", ".join(obj.case_kinds) + (" (weight-free)" if obj.weight_free else "")
    if kind == "feature backend":
        return obj.weights_id or "weight-free"
    if kind == "analysis":
        return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""
    return getattr(obj, "description", "") or getattr(obj, "case_kind", "")


def _facts(kind: str, obj) -> dict:
    """Machine-readable facts of one plugin (``evalkit list --json``)."""
    if kind == "metric":
        s = obj.spec
        return {"higher_is_better": s.higher_is_better, "value_range": list(s.value_range),
                "case_kinds": list(s.case_kinds), "inputs": list(s.inputs), "backends": list(s.backends),
                "boolean": s.boolean, "report_scale": s.report_scale, "reference": s.reference,
                "version": obj.version, "options": dict(obj.defaults)}
    if kind == "generator":
        return {"case_kinds": list(obj.case_kinds), "weight_free": obj.weight_free, "version": obj.version,
                "options": dict(obj.defaults)}
    if kind == "feature backend":
        return {"weights_id": obj.weights_id if isinstance(obj.weights_id, str) else None, "version": obj.version}
    return {"case_kind": getattr(obj, "case_kind", ""), "options": dict(obj.defaults)}


@app.command("list")
def list_plugins(kind: str = typer.Argument("all", help="datasets | generators | metrics | features | analyses | all"),
                 as_json: bool = typer.Option(False, "--json", help="machine-readable: one list per kind")) -> None:
    """List registered datasets, generators, metrics, feature backends and analyses, and where each came from."""
    registries = [r for r in (DATASETS, GENERATORS, METRICS, FEATURES, ANALYSES) if kind in ("all", PLURAL[r.kind])]
    if not registries:
        raise typer.BadParameter(f"unknown kind {kind!r}; one of {', '.join(PLURAL.values())}, all")
    if as_json:
        import json

        doc = {PLURAL[r.kind]: [
            {"name": name, "details": _describe(r.kind, obj), "from": r.origin(name), **_facts(r.kind, obj)}
            for name, obj in r.items()] for r in registries}
        typer.echo(json.dumps(doc, indent=1, default=str))
        return
    console = Console()
    for registry in registries:
        table = Table(title=PLURAL[registry.kind], title_justify="left")
        table.add_column("name")
        table.add_column("details")
        table.add_column("from")
        for name, obj in registry.items():
            # plain text, not rich markup
            table.add_row(Text(name), Text(_describe(registry.kind, obj)), Text(registry.origin(name)))
        console.print(table)
