"""``evalkit reproduce TABLE [RUN]``: a paper table's published numbers next to a run's;
``--run`` runs the table's plan first (``--plan FILE`` writes it)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EvalkitError
from .app import app, fail

FORMATS = ("md", "csv", "latex")


def _pairs(items: Optional[list[str]], flag: str, what: str) -> dict[str, list[str]]:
    """``ROW=VALUE`` entries (repeatable; a row may take several) as row -> values."""
    pairs: dict[str, list[str]] = {}
    for m in items or []:
        if "=" not in m:
            raise fail(f"{flag} {m!r}: expected ROW={what}")
        k, v = m.split("=", 1)
        pairs.setdefault(k.strip(), []).append(v.strip())
    return pairs


@app.command()
def reproduce(
    table: str = typer.Argument(..., help="paper table id (e.g. mbq-table1; `all` lists them) or a YAML file"),
    run: Optional[str] = typer.Argument(None, help="DIR, DIR:RUN_ID, store.sqlite or a baseline .json; "
                                                   "omitted: print the published table only (or run it: --run)"),
    mapping: Optional[list[str]] = typer.Option(None, "--map", help="ROW=GENERATOR: reproduce the paper row ROW "
                                                                     "with the run's GENERATOR (repeatable; a row "
                                                                     "may take several, e.g. one per backbone)"),
    fmt: str = typer.Option("md", "--format", help="md | csv | latex"),
    output: Optional[Path] = typer.Option(None, "--output", "-O", help="also write the report here"),
    wide: bool = typer.Option(False, "--wide", help="LaTeX: a table* spanning both columns of a two-column paper"),
    do_run: bool = typer.Option(False, "--run", help="run the table's plan (every row × column group with its "
                                "release preset, the columns' metrics) into --out, then report it"),
    plan_file: Optional[Path] = typer.Option(None, "--plan", help="write the table's plan as a run config "
                                             "(`evalkit run FILE` runs the same plan); without --run nothing runs"),
    out: str = typer.Option("runs", "--out", "-o", help="--run: folder of the results store and artifacts"),
    root: Optional[str] = typer.Option(None, "--root", help="data root of the table's dataset (DAVIS, DreamBooth)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="only the first N cases of each case category"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds (default: the paper's, else 0)"),
    submission: Optional[list[str]] = typer.Option(None, "--submission", help="ROW=DIR: the videos of a method "
                                                   "evalkit does not implement (a `videos` submission; its "
                                                   "submission.yaml backbone picks the column group)"),
    settings: Optional[list[str]] = typer.Option(None, "--set", help="KEY=VALUE: an option of every generator "
                                                 "that has it; NAME.KEY=VALUE: of the dataset, generator or metric "
                                                 "NAME (smoke runs; each change from a preset is reported)"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    devices: Optional[str] = typer.Option(None, "--devices", help="cuda:0,cuda:1 | all | cpu,cpu: one worker "
                                          "process per device"),
    shard: str = typer.Option("0/1", "--shard", help="i/n: this process takes every n-th work item from i"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="recompute items recorded as failed"),
    recompute: bool = typer.Option(False, "--recompute", help="recompute every generation and metric value"),
    allow_failures: bool = typer.Option(False, "--allow-failures", help="exit 0 even when items failed"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
) -> None:
    """Print ours next to the published values with the deltas and what differs in setup."""
    from ..report.markup import to_csv
    from ..report.paper.plan import build_table_plan
    from ..report.paper.presets import parse_overrides
    from ..report.paper.reproduce import available_tables, load_table
    from ..report.paper.reproduce import reproduce as run_reproduce
    from ..report.sources import load_run
    from .run import execute_plan, exit_on_failures

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    summary = None
    try:
        if table == "all":
            typer.echo("\n".join(available_tables()))
            return
        paper = load_table(table)
        pairs = _pairs(mapping, "--map", "GENERATOR")
        overrides = parse_overrides(settings or [])
        if do_run or plan_file:
            if run:
                raise EvalkitError(f"give a RUN to report ({run!r}) or --run / --plan to run the table, not both")
            planned = build_table_plan(paper, root=root, limit=limit, seeds=seeds,
                                       submissions=_pairs(submission, "--submission", "DIR"), overrides=overrides)
            for line in planned.left_out:
                typer.echo(f"row left out: {line}", err=True)
            if plan_file:
                from ..report.results_json import _atomic_write

                _atomic_write(plan_file, planned.to_yaml())
                typer.echo(f"plan: {plan_file} ({len(planned.plan.generators)} generators, "
                           f"{len(planned.plan.metrics)} metrics, run {planned.plan.run_id})", err=True)
                if not do_run:
                    return
            summary, data = execute_plan(planned.plan, out, device=device, devices=devices, shard=shard,
                                         retry_failed=retry_failed, recompute=recompute, quiet=quiet)
        else:
            if submission or limit is not None or seeds is not None or root is not None:
                raise EvalkitError("--submission, --limit, --seeds and --root shape a run: give them with --run")
            data = load_run(run) if run else _no_run()
        result = run_reproduce(paper, data, pairs, overrides)
    except EvalkitError as exc:
        raise fail(str(exc))
    text = {"md": result.to_markdown, "latex": lambda: result.to_latex(wide=wide),
            "csv": lambda: to_csv(result.frame())}[fmt]()
    typer.echo(text, nl=False)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    if summary is not None:
        exit_on_failures(summary, allow_failures)


def _no_run():
    import pandas as pd

    from ..report.sources import RunData
    from ..run.rows import ResultRow

    columns = list(ResultRow.columns()) + ["status", "value", "error", "details", "failure"]
    return RunData("(none)", pd.DataFrame(columns=columns), pd.DataFrame(), {})
