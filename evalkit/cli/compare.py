"""``evalkit compare A B``: paired regression check between two runs or a release baseline and a run."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, cast

import typer

from ..errors import EvalkitError
from .app import app, fail

REGRESSION_EXIT = 1
#: CompareSettings' fields as its errors name them -> the options that set them
_OPTIONS = {"tolerance": "--tolerance", "rel-tolerance": "--rel-tolerance", "runtime-rel-tolerance":
            "--runtime-tolerance", "runtime-min-seconds": "--runtime-min-seconds", "resamples": "--resamples",
            "test": "--test"}


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
    min_shared: int = typer.Option(1, "--min-shared", help="fewer cases shared by both runs is an error (exit 2)"),
    allow_partial: bool = typer.Option(False, "--allow-partial",
                                       help="compare even when the runs share fewer than --min-shared cases"),
) -> None:
    """Pair results by case × generator × seed × metric; exit 1 when a regression is flagged, 2
    when the runs cannot be compared (too few shared cases, a bad option)."""
    from ..report.compare import CompareSettings, compare_runs, shared_cases
    from ..report.markup import to_csv
    from ..report.sources import load_run

    if fmt not in ("md", "csv"):
        raise fail(f"--format must be md or csv, got {fmt!r}")
    if min_shared < 1:
        raise fail(f"--min-shared {min_shared}: must be ≥ 1")
    try:
        # a str from the command line: CompareSettings checks it is one of the tests
        settings = CompareSettings(resamples=resamples, seed=seed, test=cast(Literal["wilcoxon", "t"], test),
                                   tolerance=tolerance, rel_tolerance=rel_tolerance,
                                   runtime_rel_tolerance=runtime_tolerance,
                                   runtime_min_seconds=runtime_min_seconds)
        a, b = load_run(run_a), load_run(run_b)
    except EvalkitError as exc:
        field, _, rest = str(exc).partition(" ")
        raise fail(f"{_OPTIONS[field]} {rest}" if field in _OPTIONS else str(exc))
    shared = shared_cases(a, b)
    if shared < min_shared and not allow_partial:
        # a gate that passes two unrelated runs ("No regression", exit 0) checks nothing
        raise fail(f"the runs share {shared} case(s) (matched by content hash), fewer than --min-shared "
                   f"{min_shared}: not comparable; --allow-partial compares what there is")
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
