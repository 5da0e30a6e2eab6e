"""Scale past one host: the plan's unfinished items as Ray tasks, each with a store of its own.

No store is shared between hosts (SQLite's WAL store is safe on one host only, see
evalkit.run.shard_stores). The driver reads its store under ``out`` for what is still missing
(evalkit.run.workers.item_costs), groups those items by case and packs the groups into
``tasks_per_worker`` tasks per worker, heaviest first. Each task runs ``run_plan`` over its
items into a node-local folder (``$TMPDIR/evalkit-shards/<run id>-<task digest>``) and returns
that store packed (the SQLite file and its artifacts) with its summary; the driver merges each
as it arrives (evalkit.run.merge, every artifact digest checked), so:

- an interrupted driver resumes: what it merged is in its store, and the next run sends only
  what is still missing (a received store not yet merged, ``<out>/shards/ray-*``, is merged first);
- a task whose worker dies (killed, out of memory, a lost node) is retried by Ray up to
  ``max_retries`` times; on the same node the retry resumes from the task's partial store (its
  folder is named by its items), elsewhere it starts afresh;
- items the driver's store holds entirely are finished by the driver itself (their result rows);
  a task is sent the generations the store holds for its items (``seed_store``), so a metric
  added to a run is measured on the stored videos, not on videos generated again.

The merged store equals a single-process run (tests/run/test_dist_ray.py runs a multi-node
cluster on one machine and kills a node mid-run).
"""
from __future__ import annotations

import io
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Callable, Sequence

from ..errors import EvalkitError, MissingDependencyError
from ..hashing import stable_hash
from ..registry import load_plugins, plugin_modules
from .derived import SOURCES
from .merge import merge_stores
from .plan import Plan
from .runner import RunSummary, run_plan
from .shard_stores import SHARDS
from .store import STORE_FILENAME, ResultsStore

RECEIVED = "ray-"          # prefix of a received task store under <out>/shards, until merged
TASKS_PER_WORKER = 4       # several tasks per worker: the work balances, and arrives (is merged) in parts
SUMMED = ("generated", "generations_cached", "computed", "metrics_cached", "regenerated", "cleaned", "failed")


def run_plan_on_ray(plan: Plan, out: str | Path, *, num_workers: int, gpus_per_worker: float = 1.0,
                    retry_failed: bool = False, recompute: bool = False, address: str | None = None,
                    max_retries: int = 3, tasks_per_worker: int = TASKS_PER_WORKER,
                    progress: Callable[[str, int, int], None] | None = None,
                    notice: Callable[[str], None] | None = None) -> RunSummary:
    """Run ``plan`` as Ray tasks on at most ``num_workers`` workers at a time (``gpus_per_worker``
    GPUs each, or one CPU when 0), merged into the store under ``out``; one RunSummary (counts
    summed over the tasks, status read from the merged store)."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("Ray is not installed: pip install 'evalkit[dist]'") from None
    from .workers import CACHED, group_by_case, item_work

    if num_workers < 1:
        raise EvalkitError(f"--workers {num_workers}: at least 1")
    if not ray.is_initialized():   # local: a Ray instance of this machine, one CPU per CPU task
        local = address in (None, "local")
        # the tasks' logs stay in Ray's session logs: evalkit's stdout is the results table
        ray.init(address=None if local else address, log_to_driver=False,
                 **({"num_cpus": num_workers, "include_dashboard": False} if local and not gpus_per_worker else {}))
    say = notice or (lambda line: None)
    policy = "recompute" if recompute else "retry" if retry_failed else "strict"
    out = Path(out)
    _merge_received(out, policy, say)
    work = item_work(plan, out, retry_failed, recompute)
    case_ids, costs = [w.case_id for w in work], [w.cost for w in work]
    pending = [i for i, cost in enumerate(costs) if cost > CACHED]
    held = [i for i, cost in enumerate(costs) if cost <= CACHED]
    tasks = pack_tasks(group_by_case(case_ids), costs, pending, num_workers * max(1, tasks_per_worker))
    resources = {"num_gpus": gpus_per_worker} if gpus_per_worker > 0 else {"num_cpus": 1}
    device = "cuda" if gpus_per_worker > 0 else "cpu"
    remote = ray.remote(max_retries=max_retries, **resources)(shard_task)
    plugins = plugin_modules()  # a task registers the same --plugin modules first
    say(f"ray: {len(pending)} item(s) in {len(tasks)} task(s) on ≤ {num_workers} worker(s); "
        f"{len(held)} held by the store")
    running = {}
    for k, items in enumerate(tasks):   # a task gets the generations the store holds for its items
        seed = seed_store(out, [work[i].held_generation for i in items if work[i].held_generation],
                          [k for i in items for k in work[i].held_values])
        running[remote.remote(plan, items, task_name(plan, items), device, retry_failed, recompute, plugins,
                              (k, len(tasks)), seed)] = items
    parts: list[RunSummary] = []
    lost: list[str] = []   # tasks that failed past their retries
    done, merging = 0, 0.0
    total = len(pending)
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        items = running.pop(ready[0])
        try:
            part, packed = ray.get(ready[0])
        except ray.exceptions.RayError as exc:   # the others are still merged; a re-run redoes these items
            lost.append(" ".join(str(exc).split())[:300])
            continue
        started = time.perf_counter()
        _receive(out, part.run_id, packed, policy)
        merging += time.perf_counter() - started
        parts.append(part)
        done += len(items)
        if progress:
            progress(f"merged {len(parts)} of {len(tasks)} task stores", done, total)
    summary = run_plan(plan, out, device="cpu", retry_failed=retry_failed, work=iter(held))   # the rows it holds; the status
    for n, part in enumerate(parts):
        for name in SUMMED:
            setattr(summary, name, getattr(summary, name) + getattr(part, name))
        summary.loads.update({f"{k}@task{n}": v for k, v in part.loads.items()})
        summary.load_failures.update(part.load_failures)
        for stage, seconds in part.stages.items():
            summary.stages[stage] = summary.stages.get(stage, 0.0) + seconds
    summary.device = f"ray ({len(tasks)} tasks)"
    summary.merge_seconds = merging
    if tasks:
        say(f"ray: merged {len(parts)} task store(s) in {merging:.1f} s")
    if lost:
        raise EvalkitError(f"ray: {len(lost)} of {len(tasks)} task(s) failed past {max_retries} retries (first: "
                           f"{lost[0]}); the store holds the others' results (run {summary.status}); run the "
                           f"command again to resume")
    return summary


def pack_tasks(groups: list[list[int]], costs: list[float], pending: list[int], count: int) -> list[list[int]]:
    """The pending items, whole case groups together, in at most ``count`` tasks of about equal
    cost (heaviest group first into the lightest task); each task's items in plan order."""
    wanted = set(pending)
    groups = [[i for i in g if i in wanted] for g in groups]
    groups = sorted((g for g in groups if g), key=lambda g: -sum(costs[i] for i in g))
    bins: list[tuple[float, list[int]]] = [(0.0, []) for _ in range(min(count, len(groups)))]
    for group in groups:
        k = min(range(len(bins)), key=lambda b: bins[b][0])
        bins[k] = (bins[k][0] + sum(costs[i] for i in group), bins[k][1] + group)
    return [sorted(items) for _, items in bins if items]


def task_name(plan: Plan, items: list[int]) -> str:
    """Names the task's node-local folder: the same items of the same run, the same folder, so
    a retried task resumes its partial store."""
    return f"{plan.run_id}-{stable_hash(items, length=12)}"


def shard_task(plan: Plan, items: list[int], name: str, device: str, retry_failed: bool, recompute: bool,
               plugins: list[str], shard: tuple[int, int], seed: bytes | None = None) -> tuple[RunSummary, bytes]:
    """A Ray task: ``items`` into the node-local store ``$TMPDIR/evalkit-shards/<name>`` (begun
    from ``seed``, the generations the driver's store holds for them, unless a partial store
    of a dead attempt is there); returns its summary and the store packed (the folder is
    removed once packed)."""
    load_plugins(plugins)
    folder = Path(tempfile.gettempdir()) / "evalkit-shards" / name
    if seed and not (folder / STORE_FILENAME).is_file():
        _unpack(seed, folder)
    summary = run_plan(plan, folder, device=device, retry_failed=retry_failed, recompute=recompute,
                       shard=shard, work=iter(items))
    packed = pack_store(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return summary, packed


def pack_store(folder: Path) -> bytes:
    """The store file and its artifacts as an uncompressed tar (artifacts are stored zips; the
    feature cache stays behind: it is recomputable)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(folder / STORE_FILENAME, arcname=STORE_FILENAME)
        if (folder / "artifacts").is_dir():
            tar.add(folder / "artifacts", arcname="artifacts",
                    filter=lambda info: None if Path(info.name).name.startswith(".tmp-") else info)
    return buffer.getvalue()


def seed_store(out: Path, keys: list[str], values: Sequence[str] = ()) -> bytes | None:
    """The generations ``keys`` of the store under ``out`` (rows, artifacts, the source frames
    they index into) and its metric values ``values``, packed as a store: a task measures a
    metric missing from a held generation on that generation, instead of generating it again
    (a model's output may differ from one run to the next, and the merge would refuse it)."""
    if not keys:
        return None
    from .merge import artifact_sources

    folder = Path(tempfile.mkdtemp(prefix="evalkit-seed-"))
    try:
        ResultsStore(folder).close()
        source = (out / STORE_FILENAME).resolve()
        con = sqlite3.connect(str(folder / STORE_FILENAME), isolation_level=None)
        try:
            con.execute("ATTACH DATABASE ? AS held", (f"file:{urllib.parse.quote(str(source))}?mode=ro",))
            con.executemany("INSERT OR IGNORE INTO main.generations SELECT * FROM held.generations WHERE key = ?",
                            [(k,) for k in keys])
            con.executemany("INSERT OR IGNORE INTO main.metric_values SELECT * FROM held.metric_values "
                            "WHERE key = ?", [(k,) for k in values])
            artifacts = [a for (a,) in con.execute("SELECT artifact FROM main.generations")]
        finally:
            con.close()
        for artifact in artifacts:
            names = [f"artifacts/{SOURCES}/{n}" for n in artifact_sources(out / artifact, out)]
            for rel in [artifact, *names]:
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out / rel, folder / rel)   # checked where it is loaded (its digest)
        return pack_store(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _unpack(packed: bytes, folder: Path) -> None:
    """A packed store into ``folder`` (created), atomically: complete or absent."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r") as tar:
            tar.extractall(tmp, filter="data")
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _receive(out: Path, run_id: str, packed: bytes, policy: str) -> None:
    """Unpack a task's store under ``<out>/shards`` (atomically: a folder is complete or absent),
    merge it, remove it."""
    folder = out / SHARDS / f"{RECEIVED}{run_id}-{time.time_ns()}-{os.getpid()}"
    _unpack(packed, folder)
    merge_stores(out, [folder], policy=policy)
    shutil.rmtree(folder)


def _merge_received(out: Path, policy: str, say: Callable[[str], None]) -> None:
    """Task stores an interrupted driver received but did not merge: merged first."""
    shards = out / SHARDS
    left = sorted(p for p in shards.glob(f"{RECEIVED}*") if p.is_dir()) if shards.is_dir() else []
    for folder in left:
        merge_stores(out, [folder], policy=policy)
        shutil.rmtree(folder)
    if left:
        say(f"merged {len(left)} task store(s) an interrupted run had received")
