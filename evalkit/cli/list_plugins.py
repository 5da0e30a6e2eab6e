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


@app.command("list")
def list_plugins(kind: str = typer.Argument("all", help="datasets | generators | metrics | features | all")) -> None:
    """List registered datasets, generators, metrics and feature backends."""
    console = Console()
    for registry in (DATASETS, GENERATORS, METRICS, FEATURES):
        if kind != "all" and not registry.kind.startswith(kind.rstrip("s")):
            continue
        table = Table(title=f"{registry.kind}s", title_justify="left")
        table.add_column("name")
        table.add_column("details")
        for name, obj in registry.items():
            table.add_row(Text(name), Text(_describe(registry.kind, obj)))   # plain text, not rich markup
        console.print(table)
