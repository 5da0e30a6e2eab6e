"""``evalkit run SUITE_OR_CONFIG``: execute a plan (resumable) and print the leaderboard."""
from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..errors import EvalkitError
from ..run.plan import load_plan, split_components
from .app import app, fail

#: exit status of a run in which items failed (2 is a usage error)
FAILED_ITEMS_EXIT = 1


def _split(values: Optional[list[str]]) -> Optional[list[str]]:
    if not values:
        return None
    return [part for v in values for part in split_components(v)]


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (a job scheduler stopping the job) interrupts like Ctrl-C, so the run is recorded
    as interrupted instead of staying 'running'."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:   # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def progress_columns() -> tuple:
    """The progress display; item labels ("case × mbq[injection_fraction=0.6] (seed 0)") are
    plain text, never rich markup (which would swallow "[...]")."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    return (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def _loads(summary) -> str:
    """Each generator's load stage and each metric backend's model load in this process
    ("none" when nothing was loaded)."""
    failed = summary.load_failures
    parts = [f"{label} failed (reason below)" if label in failed else f"{label} {seconds:.1f} s"
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
    seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds, e.g. 0,1,2 (default 0)"),
    device: str = typer.Option("auto", "--device", help="auto (a CUDA GPU when there is one) | cpu | cuda | cuda:N"),
    limit: Optional[int] = typer.Option(None, "--limit", help="only the first N cases (N ≥ 1)"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="recompute items recorded as failed (item "
                                      "errors; environment errors are retried anyway)"),
    recompute: bool = typer.Option(False, "--recompute", help="recompute every generation and metric value"),
    allow_failures: bool = typer.Option(False, "--allow-failures",
                                        help="exit 0 even when items failed (default: exit 1)"),
    shard: str = typer.Option("0/1", "--shard", help="i/n: this process takes every n-th work item from i "
                              "(cluster schedulers: one process per job; merge the shard stores with evalkit merge)"),
    shard_store: str = typer.Option("auto", "--shard-store", help="auto | own | shared: where a --shard process "
                                    "writes: its own store OUT/shards/<i>-of-<n> (auto: when OUT is on a network "
                                    "filesystem, where one SQLite file must not be shared) or the shared OUT store"),
    ray_address: Optional[str] = typer.Option(None, "--ray", help="ADDRESS | auto | local: run the plan as Ray "
                                              "tasks (each with its own store, merged into OUT as they arrive)"),
    ray_workers: int = typer.Option(0, "--workers", help="with --ray: tasks running at once (default: 1)"),
    gpus_per_worker: float = typer.Option(-1.0, "--gpus-per-worker", help="with --ray: GPUs per task "
                                          "(default 1 when --device resolves to cuda, else 0: one CPU per task)"),
    devices: Optional[str] = typer.Option(None, "--devices", help="cuda:0,cuda:1 | all | cpu,cpu: one worker "
                                          "process per device of this host, work split by cost, one store"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
) -> None:
    """Run a suite: cases × generators × metrics, cached and resumable; prints mean ± S.E.M."""
    from rich.console import Console
    from rich.progress import Progress

    from ..report.escape import clean
    from ..report.labels import DisplayNames
    from ..report.results_json import write_results
    from ..report.sources import load_run
    from ..report.tables import render_markdown, summary_table
    from ..run.device import resolve_device
    from ..run.workers import parse_devices, run_plan_on_devices
    from ..run.dist import run_plan_on_ray
    from ..run.runner import parse_shard, run_plan
    from ..run.shard_stores import store_for_shard

    console = Console(stderr=True)
    try:   # everything is checked before a store exists: a bad value is one error line, exit 2
        plan = load_plan(suite_or_config, generators=_split(generators), metrics=_split(metrics), seeds=seeds,
                         root=root, limit=limit)
        where = parse_shard(shard)
        if devices is not None and (where != (0, 1) or device != "auto"):
            raise EvalkitError("--devices starts its own workers: give it without --device or --shard")
        if ray_address is None and (ray_workers or gpus_per_worker >= 0):
            raise EvalkitError("--workers and --gpus-per-worker go with --ray ADDRESS|auto|local")
        if ray_address is not None and (where != (0, 1) or devices is not None):
            raise EvalkitError("--ray runs its own tasks: give it without --shard or --devices")
        workers = parse_devices(devices) if devices is not None else None
        device = resolve_device(device) if workers is None else ",".join(workers)
        store_dir = store_for_shard(out, where, shard_store)
        start = time.perf_counter()
        with Progress(*progress_columns(), console=console, disable=quiet, transient=True) as bar:
            task = bar.add_task("planning", total=None)

            def progress(desc: str, done: int, total: int) -> None:
                bar.update(task, description=clean(desc), completed=done, total=total)

            def notice(line: str) -> None:
                console.print(line, markup=False, highlight=False)

            with _sigterm_interrupts():
                if store_dir != Path(out):
                    notice(f"shard {where[0]}/{where[1]} writes its own store {store_dir}; once every shard is "
                           f"done, merge them: evalkit merge {out}")
                if ray_address is not None:
                    gpus = gpus_per_worker if gpus_per_worker >= 0 else (1.0 if device.startswith("cuda") else 0.0)
                    with contextlib.redirect_stdout(sys.stderr):   # Ray's messages: stdout is the table
                        summary = run_plan_on_ray(plan, out, num_workers=ray_workers or 1, gpus_per_worker=gpus,
                                                  address=ray_address, retry_failed=retry_failed,
                                                  recompute=recompute, progress=progress, notice=notice)
                elif workers is not None:
                    summary = run_plan_on_devices(plan, out, workers, retry_failed=retry_failed,
                                                  recompute=recompute, progress=progress, notice=notice)
                else:
                    summary = run_plan(plan, store_dir, device=device, retry_failed=retry_failed, recompute=recompute,
                                       shard=where, progress=progress, notice=notice)
        elapsed = time.perf_counter() - start
        report_outcome(summary, elapsed)
        run_data = load_run(f"{store_dir}:{summary.run_id}")   # the store, read-only, once
        written, _ = write_results(run_data, Path(store_dir) / "results" / summary.run_id)
        typer.echo(f"results: {written} (+ samples.jsonl)", err=True)
        results = DisplayNames.of(plan.labels).apply(run_data.results)   # a config's labels:
        typer.echo(render_markdown(summary_table(results)))
    except EvalkitError as exc:
        raise fail(str(exc))
    if summary.outcome.failed and not allow_failures:
        typer.echo(f"error: {summary.outcome.failed} results failed (reasons above); --allow-failures exits 0",
                   err=True)
        raise typer.Exit(FAILED_ITEMS_EXIT)


def report_outcome(summary, elapsed: float) -> None:
    """The summary line, the run's status with its counts, and the failure reasons grouped
    with counts (stderr, one line each, never wrapped)."""
    typer.echo(f"run {summary.run_id}: {summary.generated} generated, {summary.generations_cached} cached; "
               f"{summary.computed} metric values computed, {summary.metrics_cached} cached; "
               + (f"{summary.regenerated} artifacts missing or changed, regenerated; " if summary.regenerated else "")
               + (f"{summary.cleaned} stale temporary files removed; " if summary.cleaned else "") +
               f"{summary.failed} failed in this process; load: {_loads(summary)}; {elapsed:.1f} s; "
               f"store {summary.store_path}", err=True)
    if summary.stages:   # where the device thread's time went: the pipeline's bottleneck
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in summary.stages.items())
        typer.echo(f"device thread: {stages}", err=True)
    for device, code in summary.dead_workers.items():
        typer.echo(f"worker on {device} died (exit code {code}); its unfinished items went to the other workers"
                   " (re-run the command to resume what is still missing)", err=True)
    out = summary.outcome
    typer.echo(f"status {out.status}: {out.counts()}", err=True)
    if out.reasons:
        typer.echo("failure reasons (result rows):", err=True)
        for reason in out.reasons:
            typer.echo(reason.line(), err=True)
