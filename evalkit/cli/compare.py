"""``evalkit compare A B``: paired regression check between two runs or a release baseline and a run."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EvalkitError
from .app import app, fail

REGRESSION_EXIT = 1


@app.command()
def compare(
    run_a: str = typer.Argument(..., help="reference: DIR, DIR:RUN_ID, store.sqlite or baselines/releases/NAME.json"),
    run_b: str = typer.Argument(..., help="the run to check, same forms"),
    tolerance: float = typer.Option(0.0, "--tolerance", help="absolute tolerance, raw metric units"),
    rel_tolerance: float = typer.Option(0.01, "--rel-tolerance", help="tolerance as a fraction of |mean A|"),
    runtime_tolerance: float = typer.Option(0.10, "--runtime-tolerance",
                                            help="runtime: tolerated slowdown as a fraction of A's time"),
    runtime_min_seconds: float = typer.Option(0.5, "--runtime-min-seconds",
                                              help="runtime differences below this are never flagged"),
    no_runtime: bool = typer.Option(False, "--no-runtime", help="skip the stage-timing comparison"),
    resamples: int = typer.Option(10_000, "--resamples", help="paired bootstrap resamples"),
    seed: int = typer.Option(0, "--seed", help="bootstrap RNG seed"),
    test: str = typer.Option("wilcoxon", "--test", help="wilcoxon | t"),
    fmt: str = typer.Option("md", "--format", help="md | csv"),
    out: Optional[Path] = typer.Option(None, "--out", help="write the comparison here too"),
) -> None:
    """Pair results by case × generator × seed × metric; exit 1 when a regression is flagged."""
    from ..report.compare import CompareSettings, compare_runs
    from ..report.markup import to_csv
    from ..report.sources import load_run

    if test not in ("wilcoxon", "t"):
        raise fail(f"--test must be wilcoxon or t, got {test!r}")
    if fmt not in ("md", "csv"):
        raise fail(f"--format must be md or csv, got {fmt!r}")
    try:
        a, b = load_run(run_a), load_run(run_b)
    except EvalkitError as exc:
        raise fail(str(exc))
    settings = CompareSettings(resamples=resamples, seed=seed, test=test, tolerance=tolerance,
                               rel_tolerance=rel_tolerance, runtime_rel_tolerance=runtime_tolerance,
                               runtime_min_seconds=runtime_min_seconds)
    result = compare_runs(a, b, settings)
    if no_runtime:
        result.runtime = result.runtime.iloc[0:0]
    text = result.to_markdown() if fmt == "md" else to_csv(result.table)
    typer.echo(text, nl=False)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    if result.has_regression:
        typer.echo(f"regression: {len(result.regressions)} generator × metric column(s) got worse", err=True)
        raise typer.Exit(REGRESSION_EXIT)
