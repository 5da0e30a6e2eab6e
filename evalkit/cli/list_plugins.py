"""``evalkit list``: every registered dataset, generator, metric and feature backend."""
from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..registry import DATASETS, FEATURES, GENERATORS, METRICS
from .app import app


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
def list_plugins(kind: str = typer.Argument("all", help="datasets | generators | metrics | features | all"),
                 as_json: bool = typer.Option(False, "--json", help="machine-readable: one list per kind")) -> None:
    """List registered datasets, generators, metrics and feature backends, and where each came from."""
    registries = [r for r in (DATASETS, GENERATORS, METRICS, FEATURES)
                  if kind == "all" or r.kind.startswith(kind.rstrip("s"))]
    if as_json:
        import json

        doc = {("features" if r is FEATURES else r.kind + "s"): [
            {"name": name, "details": _describe(r.kind, obj), "from": r.origin(name), **_facts(r.kind, obj)}
            for name, obj in r.items()] for r in registries}
        typer.echo(json.dumps(doc, indent=1, default=str))
        return
    console = Console()
    for registry in registries:
        table = Table(title=f"{registry.kind}s", title_justify="left")
        table.add_column("name")
        table.add_column("details")
        table.add_column("from")
        for name, obj in registry.items():
            table.add_row(Text(name), Text(_describe(registry.kind, obj)), Text(registry.origin(name)))   # plain text, not rich markup
        console.print(table)
