"""``evalkit run SUITE_OR_CONFIG``: execute a plan (resumable) and print the leaderboard."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from ..errors import EvalkitError
from ..run.plan import load_plan, split_components
from .app import app, fail


def _split(values: Optional[list[str]]) -> Optional[list[str]]:
    if not values:
        return None
    return [part for v in values for part in split_components(v)]


def _loads(summary) -> str:
    """Each generator's load stage in this process ("none" when every generation was cached)."""
    failed = summary.load_failures
    parts = [f"{label} failed ({failed[label]})" if label in failed else f"{label} {seconds:.1f} s"
             for label, seconds in summary.loads.items()]
    return ", ".join(parts) or "none"


@app.command()
def run(
    suite_or_config: str = typer.Argument(..., help="a dataset name (see `evalkit list datasets`) or a YAML run config"),
    generators: Optional[list[str]] = typer.Option(None, "--generators", "-g",
                                                   help="comma-separated; name[key=value,...] sets options (default: "
                                                        "the weight-free generators of the suite's case kind)"),
    metrics: Optional[list[str]] = typer.Option(None, "--metrics", "-m",
                                                help="comma-separated; e.g. motion-fidelity[backend=klt] (default: "
                                                     "temporal-flicker, motion-fidelity[klt] where they apply)"),
    out: str = typer.Option("runs", "--out", "-o", help="folder of the results store and artifacts"),
    root: Optional[str] = typer.Option(None, "--root", help="data root of the dataset (DAVIS, DreamBooth, ...)"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds (default 0)"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N"),
    limit: Optional[int] = typer.Option(None, "--limit", help="only the first N cases"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="recompute items recorded as failed"),
    shard: str = typer.Option("0/1", "--shard", help="i/n: this process takes every n-th work item from i "
                              "(one process per GPU sharing one --out)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
) -> None:
    """Run a suite: cases × generators × metrics, cached and resumable; prints mean ± S.E.M."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..report.results_json import write_results
    from ..report.sources import load_run
    from ..report.tables import render_markdown, summary_table
    from ..run.runner import run_plan

    console = Console(stderr=True)
    try:
        plan = load_plan(suite_or_config, generators=_split(generators), metrics=_split(metrics),
                         seeds=[int(s) for s in seeds.split(",")] if seeds else None, root=root, limit=limit)
        start = time.perf_counter()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, disable=quiet, transient=True) as bar:
            task = bar.add_task("planning", total=None)

            def progress(desc: str, done: int, total: int) -> None:
                bar.update(task, description=desc, completed=done, total=total)

            index, _, count = shard.partition("/")
            summary = run_plan(plan, out, device=device, retry_failed=retry_failed,
                               shard=(int(index), int(count or 1)), progress=progress,
                               notice=lambda line: console.print(line, markup=False, highlight=False))
        elapsed = time.perf_counter() - start
    except EvalkitError as exc:
        raise fail(str(exc))
    console.print(f"run {summary.run_id}: {summary.generated} generated, {summary.generations_cached} cached; "
                  f"{summary.computed} metric values computed, {summary.metrics_cached} cached; "
                  f"{summary.failed} failed; load: {_loads(summary)}; {elapsed:.1f} s; store {summary.store_path}")
    run_data = load_run(f"{out}:{summary.run_id}")
    written, _ = write_results(run_data, Path(out) / "results" / summary.run_id)
    console.print(f"results: {written} (+ samples.jsonl)", markup=False, highlight=False)
    typer.echo(render_markdown(summary_table(run_data.results)))
