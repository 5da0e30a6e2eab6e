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
from .progress import progress_columns  # noqa: F401  (the terminal display's columns, re-exported)

#: exit status of a run in which items failed (2 is a usage error)
FAILED_ITEMS_EXIT = 1


def _split(values: Optional[list[str]]) -> Optional[list[str]]:
    """None when the option was not given; [] when it was given empty (an error, not the defaults)."""
    if values is None:
        return None
    return [part for v in values for part in split_components(v)]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be."""


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (a job scheduler stopping the job) interrupts like Ctrl-C, so the run is recorded
    as interrupted instead of staying 'running'."""
    def interrupt(signum, frame):
        raise Terminated(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:   # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_line(exc: KeyboardInterrupt, run_id: str, done: float, total: int, store: Path) -> str:
    """What an interrupted run prints: why, how far it got, and how to resume."""
    why = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
    return (f"interrupted ({why}) after {int(done)} of {total or '?'} items: run {run_id} is recorded as interrupted "
            f"in {store}; finished items are kept, re-run the same command to resume")


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
    progress_every: float = typer.Option(30.0, "--progress-every", min=0.0,
                                         help="seconds between progress lines when stderr is not a terminal "
                                              "(a batch job, a log file)"),
) -> None:
    """Run a suite: cases × generators × metrics, cached and resumable; prints mean ± S.E.M."""
    from ..report.labels import DisplayNames
    from ..report.tables import render_markdown, summary_table

    try:   # everything is checked before a store exists: a bad value is one error line, exit 2
        plan = load_plan(suite_or_config, generators=_split(generators), metrics=_split(metrics), seeds=seeds,
                         root=root, limit=limit)
        summary, run_data = execute_plan(plan, out, device=device, devices=devices, shard=shard,
                                         retry_failed=retry_failed, recompute=recompute, quiet=quiet,
                                         progress_every=progress_every, shard_store=shard_store,
                                         ray_address=ray_address, ray_workers=ray_workers,
                                         gpus_per_worker=gpus_per_worker)
        results = DisplayNames.of(plan.labels).apply(run_data.results)   # a config's labels:
        typer.echo(render_markdown(summary_table(results)))
    except EvalkitError as exc:
        raise fail(str(exc))
    exit_on_failures(summary, allow_failures)


def execute_plan(plan, out: str, *, device: str = "auto", devices: Optional[str] = None, shard: str = "0/1",
                 retry_failed: bool = False, recompute: bool = False, quiet: bool = False,
                 progress_every: float = 30.0, shard_store: str = "auto", ray_address: Optional[str] = None,
                 ray_workers: int = 0, gpus_per_worker: float = -1.0):
    """Run ``plan`` into ``out`` (one process, ``--shard`` or ``--devices`` workers) with the progress
    display (a bar on a terminal, lines every ``progress_every`` s otherwise; a ``--shard`` process
    on its own store when ``shard_store`` says so, Ray tasks with ``ray_address``), print its outcome and
    protocol warnings and write results.json; the summary and the run's data, read once. An
    interruption (Ctrl-C, SIGTERM) prints one line and exits 130 / 143. Shared by `evalkit run` and
    `evalkit reproduce --run`."""
    from rich.console import Console

    from ..report.protocol_warnings import protocol_warnings, warning_line
    from ..report.results_json import write_results
    from ..report.sources import load_run
    from ..run.device import resolve_device
    from ..run.dist import run_plan_on_ray
    from ..run.runner import parse_shard, run_plan
    from ..run.shard_stores import store_for_shard
    from ..run.store import STORE_FILENAME
    from ..run.workers import parse_devices, run_plan_on_devices
    from .progress import progress_display

    console = Console(stderr=True)
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
    interruption = None
    with progress_display(console, quiet=quiet, every=progress_every) as shown:
        def notice(line: str) -> None:
            console.print(line, markup=False, highlight=False, soft_wrap=True)

        try:
            with _sigterm_interrupts():
                if store_dir != Path(out):
                    notice(f"shard {where[0]}/{where[1]} writes its own store {store_dir}; once every shard is "
                           f"done, merge them: evalkit merge {out}")
                if ray_address is not None:
                    gpus = gpus_per_worker if gpus_per_worker >= 0 else (1.0 if device.startswith("cuda") else 0.0)
                    with contextlib.redirect_stdout(sys.stderr):   # Ray's messages: stdout is the table
                        summary = run_plan_on_ray(plan, out, num_workers=ray_workers or 1, gpus_per_worker=gpus,
                                                  address=ray_address, retry_failed=retry_failed,
                                                  recompute=recompute, progress=shown.update, notice=notice)
                elif workers is not None:
                    summary = run_plan_on_devices(plan, out, workers, retry_failed=retry_failed,
                                                  recompute=recompute, progress=shown.update, notice=notice)
                else:
                    summary = run_plan(plan, store_dir, device=device, retry_failed=retry_failed,
                                       recompute=recompute, shard=where, progress=shown.update, notice=notice)
        except KeyboardInterrupt as exc:
            interruption = exc
    if interruption is not None:
        typer.echo(interrupted_line(interruption, plan.run_id, shown.done, shown.total,
                                    Path(store_dir) / STORE_FILENAME), err=True)
        raise typer.Exit(143 if isinstance(interruption, Terminated) else 130)   # 128 + signal number
    elapsed = time.perf_counter() - start
    report_outcome(summary, elapsed)
    run_data = load_run(f"{store_dir}:{summary.run_id}")   # the store, read-only, once
    written, _ = write_results(run_data, Path(store_dir) / "results" / summary.run_id)
    typer.echo(f"results: {written} (+ samples.jsonl)", err=True)
    if warned := protocol_warnings(run_data):
        typer.echo(f"protocol warnings: {len(warned)} (the items are scored; listed in results.json and "
                   f"`evalkit report`), e.g. {warning_line(warned[0])}", err=True)
    return summary, run_data


def exit_on_failures(summary, allow_failures: bool) -> None:
    """Exit 1 when any result failed (reasons printed above), unless ``allow_failures``."""
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
