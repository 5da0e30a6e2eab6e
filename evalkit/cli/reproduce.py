"""``evalkit reproduce TABLE RUN``: a paper table's published numbers next to a run's."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EvalkitError
from .app import app, fail

FORMATS = ("md", "csv", "latex")


@app.command()
def reproduce(
    table: str = typer.Argument(..., help="paper table id (e.g. mbq-table1; `all` lists them) or a YAML file"),
    run: Optional[str] = typer.Argument(None, help="DIR, DIR:RUN_ID, store.sqlite or a baseline .json; "
                                                   "omitted: print the published table only"),
    mapping: Optional[list[str]] = typer.Option(None, "--map", help="ROW=GENERATOR: reproduce the paper row ROW "
                                                                     "with the run's GENERATOR (repeatable; a row "
                                                                     "may take several, e.g. one per backbone)"),
    fmt: str = typer.Option("md", "--format", help="md | csv | latex"),
    out: Optional[Path] = typer.Option(None, "--out", help="also write the output here"),
    wide: bool = typer.Option(False, "--wide", help="LaTeX: a table* spanning both columns of a two-column paper"),
) -> None:
    """Print ours next to the published values with the deltas and what differs in setup."""
    from ..report.markup import to_csv
    from ..report.paper.reproduce import available_tables, load_table, reproduce as run_reproduce
    from ..report.sources import load_run

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    try:
        if table == "all":
            typer.echo("\n".join(available_tables()))
            return
        paper = load_table(table)
        pairs: dict[str, list[str]] = {}
        for m in mapping or []:
            if "=" not in m:
                raise fail(f"--map {m!r}: expected ROW=GENERATOR")
            k, v = m.split("=", 1)
            pairs.setdefault(k.strip(), []).append(v.strip())
        data = load_run(run) if run else _no_run()
        result = run_reproduce(paper, data, pairs)
    except EvalkitError as exc:
        raise fail(str(exc))
    text = {"md": result.to_markdown, "latex": lambda: result.to_latex(wide=wide),
            "csv": lambda: to_csv(result.frame())}[fmt]()
    typer.echo(text, nl=False)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def _no_run():
    import pandas as pd

    from ..report.sources import RunData

    from ..run.rows import ResultRow

    columns = list(ResultRow.columns()) + ["status", "value", "error", "details", "failure"]
    return RunData("(none)", pd.DataFrame(columns=columns), pd.DataFrame(), {})
