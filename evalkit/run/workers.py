"""Every device of one host in one command: ``evalkit run ... --devices cuda:0,cuda:1`` (or ``all``).

The parent process lists the plan's work items, groups them by case (a case's source is then
decoded, and its features and tracks computed, by one worker only), weighs each group by the
work it still needs (``group_costs``: what the store holds costs nothing, a generation by a
model weighs more than one by a reference generator, a metric on a model backend more than a
CPU metric) and hands the groups out, heaviest first, to whichever worker is free: the work
is split by cost as it goes, not by item index. Each worker is a spawned process running
``run_plan`` on its device over the groups it is handed (preparing ``WORKER_LOOKAHEAD`` items
ahead, so little is left in one worker's hands at the end), writing
into the one store (SQLite WAL serialises the writers). When a worker dies (killed, out of
memory), its unfinished items go back to the queue: a worker with nothing left to do keeps
asking while others still hold work, so a survivor takes them; running the command again
resumes whatever is still missing.

CPU processes stand in for devices in tests (``--devices cpu,cpu``).
"""
from __future__ import annotations

import multiprocessing
import queue as queue_errors
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import EvalkitError
from .device import cuda_devices

#: relative weights of the work an item still needs (only their ratios matter); an item the
#: store holds entirely still adds its result rows to the run: it costs a little, it goes last
MODEL_GENERATION, REFERENCE_GENERATION, MODEL_METRIC, CPU_METRIC, CACHED = 50.0, 1.0, 5.0, 1.0, 0.01
#: items a worker prepares ahead when there are several: enough to keep the CPU stages busy while
#: the device measures a window (4 items), few enough that what one worker still holds when the
#: queue runs dry (the imbalance at the end of a run) stays small; one worker alone uses the default
WORKER_LOOKAHEAD = 4
ASK_AGAIN_S = 0.2   # a worker with nothing to do while others still hold work asks again this often


def parse_devices(text: str) -> list[str]:
    """``all`` (every CUDA device) or a comma-separated list of ``cuda:N`` / ``cpu``."""
    names = [d.strip().lower() for d in str(text).split(",") if d.strip()]
    count = cuda_devices()
    if names == ["all"]:
        if not count:
            raise EvalkitError("--devices all: no CUDA device is available here; name CPU workers with "
                               "--devices cpu,cpu or run with --device cpu")
        return [f"cuda:{i}" for i in range(count)]
    if not names:
        raise EvalkitError("--devices: name at least one device (cuda:0,cuda:1, all, or cpu,cpu)")
    for name in names:
        index = name.partition(":")[2]
        if name != "cpu" and not (name.startswith("cuda:") and index.isdigit()):
            raise EvalkitError(f"--devices {text!r}: {name!r} is not cuda:N or cpu (or 'all' alone)")
        if name != "cpu" and int(index) >= count:
            raise EvalkitError(f"--devices {text!r}: this machine has {count} CUDA device(s)"
                               + (f" (cuda:0 … cuda:{count - 1})" if count else ""))
    repeated = sorted({n for n in names if n != "cpu" and names.count(n) > 1})
    if repeated:
        raise EvalkitError(f"--devices {text!r}: {', '.join(repeated)} named twice (one worker per GPU)")
    return names


def run_plan_on_devices(plan, out: str | Path, devices: list[str], *, retry_failed: bool = False,
                        recompute: bool = False, progress: Callable[[str, int, int], None] | None = None,
                        notice: Callable[[str], None] | None = None):
    """``run_plan`` with one worker process per device; one RunSummary for the whole run (its
    counts summed over the workers, its status read from the store once they are done)."""
    from .outcome import outcome
    from .runner import RunSummary
    from .store import ResultsStore

    case_ids, costs = item_costs(plan, out, retry_failed, recompute)
    ResultsStore(out).close()   # created here, not by two workers at once
    report = run_on_devices(plan, out, devices, case_ids, costs, retry_failed=retry_failed, recompute=recompute,
                            progress=progress, notice=notice)
    store = ResultsStore(out)
    try:
        summary = RunSummary(plan.run_id, store.path)
        for part in report.summaries.values():
            for name in ("generated", "generations_cached", "computed", "metrics_cached", "regenerated",
                         "cleaned", "failed"):
                setattr(summary, name, getattr(summary, name) + getattr(part, name))
            summary.loads.update({f"{k}@{part.device}": v for k, v in part.loads.items()})
            summary.load_failures.update(part.load_failures)
            for stage, seconds in part.stages.items():   # summed over the workers
                summary.stages[stage] = summary.stages.get(stage, 0.0) + seconds
        expected = store.run(plan.run_id).get("expected")
        summary.outcome = outcome(store.results(plan.run_id), expected)
        store.finish_run(plan.run_id, summary.outcome.status)
    finally:
        store.close()
    summary.dead_workers = {devices[w]: code for w, code in report.dead.items()}
    return summary


@dataclass
class DeviceRun:
    """What ``run_on_devices`` reports: per worker its device, exit code and summary."""
    devices: list[str]
    summaries: dict[int, object] = field(default_factory=dict)   # worker -> RunSummary
    exit_codes: dict[int, int | None] = field(default_factory=dict)
    requeued: int = 0                                            # groups redone after a worker died

    @property
    def dead(self) -> dict[int, int | None]:
        return {w: code for w, code in self.exit_codes.items() if code != 0}


def item_costs(plan, out: str | Path, retry_failed: bool = False, recompute: bool = False) -> tuple[list[str], list[float]]:
    """Each work item's case id and the work it still needs (``run_plan``'s item order): nothing
    for what the store holds, a generation (a model's weighs more) and the metric values missing."""
    work = item_work(plan, out, retry_failed, recompute)
    return [w.case_id for w in work], [w.cost for w in work]


@dataclass(frozen=True)
class ItemWork:
    """What one work item still needs, read from the store."""
    case_id: str
    cost: float
    held_generation: str   # its generation key when the store holds its generation for reuse, else ""
    held_values: tuple[str, ...] = ()   # the keys of the metric values the store holds for it


def item_work(plan, out: str | Path, retry_failed: bool = False, recompute: bool = False) -> list[ItemWork]:
    """``ItemWork`` of each work item, in ``run_plan``'s item order."""
    from .items import CachePolicy
    from .keys import generation_key, generator_identity, metric_key
    from .runner import build_components
    from .store import STORE_FILENAME, ResultsStore

    cases, generators, metrics = build_components(plan, "cpu")
    policy = CachePolicy(retry_failed, recompute)
    store = ResultsStore(out, readonly=True) if (Path(out) / STORE_FILENAME).is_file() else None

    def metric_cost(m) -> float:
        return MODEL_METRIC if m.uses_model else CPU_METRIC

    work = []
    try:
        identities = {id(g): generator_identity(g) for g in generators}
        for case in cases:
            for gen in [g for g in generators if case.kind in g.case_kinds]:
                for seed in plan.seeds:
                    mine = [m for m in metrics if case.kind in m.spec.case_kinds]
                    gkey = generation_key(case, identities[id(gen)], seed, gen.input_fingerprint(case, seed))
                    record = store.generation(gkey) if store else None
                    held, values = "", ()
                    if policy.reuses(record):
                        digest = record.get("artifact_digest") or ""
                        keys = {id(m): metric_key(gkey, case, m, digest) for m in mine}
                        values = tuple(k for k in keys.values() if policy.reuses(store.metric_value(k)))
                        mine = [m for m in mine if record["status"] == "ok" and keys[id(m)] not in values]
                        cost = 0.0
                        held = gkey if record["status"] == "ok" else ""
                    else:
                        cost = REFERENCE_GENERATION if gen.weight_free else MODEL_GENERATION
                    work.append(ItemWork(case.case_id, cost + sum(metric_cost(m) for m in mine) or CACHED, held,
                                         values if held else ()))
    finally:
        if store is not None:
            store.close()
    return work


def group_by_case(case_ids: list[str]) -> list[list[int]]:
    """Item indices grouped by case, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, case_id in enumerate(case_ids):
        groups.setdefault(case_id, []).append(i)
    return list(groups.values())


def order_by_cost(groups: list[list[int]], item_costs: list[float]) -> list[tuple[list[int], float]]:
    """Groups heaviest first (longest processing time first balances best)."""
    return sorted([(g, sum(item_costs[i] for i in g)) for g in groups], key=lambda w: -w[1])


def run_on_devices(plan, out: str | Path, devices: list[str], case_ids: list[str], item_costs: list[float],
                   *, retry_failed: bool = False, recompute: bool = False,
                   progress: Callable[[str, int, int], None] | None = None,
                   notice: Callable[[str], None] | None = None) -> DeviceRun:
    """Run ``plan`` with one worker process per device; ``case_ids`` and ``item_costs`` give each
    work item's case and remaining cost, in the plan's item order."""
    from ..registry import plugin_modules

    groups = [g for g, _ in order_by_cost(group_by_case(case_ids), item_costs)]
    total = sum(len(g) for g in groups)
    mp = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    events = mp.Queue()
    inboxes = [mp.Queue() for _ in devices]   # per worker: its next group, or None (no more)
    workers = [mp.Process(target=_worker, args=(i, len(devices), device, plan, str(out), retry_failed, recompute,
                                                 plugin_modules(), inboxes[i], events), daemon=True)
               for i, device in enumerate(devices)]
    for w in workers:
        w.start()
    say = notice or (lambda line: None)
    for i, (w, device) in enumerate(zip(workers, devices)):
        say(f"worker {i}: {device}, pid {w.pid}")
    report = DeviceRun(list(devices))
    handed: dict[int, list[set[int]]] = {i: [] for i in range(len(workers))}  # unfinished items per group
    done = 0
    while any(w.is_alive() for w in workers):
        _requeue_dead(workers, devices, handed, groups, report, say)
        try:
            kind, worker, payload = events.get(timeout=0.5)
        except queue_errors.Empty:
            continue
        if kind == "want":
            if groups:   # the heaviest group left
                handed[worker].append(set(groups[0]))
                inboxes[worker].put(groups.pop(0))
            elif any(g for w, gs in handed.items() if w != worker for g in gs):
                inboxes[worker].put([])    # nothing now; another worker's items may come back if it dies
            else:
                inboxes[worker].put(None)  # no more: that worker finishes what it holds
        elif kind == "done":
            item, desc = payload
            for g in handed[worker]:
                g.discard(item)
            handed[worker] = [g for g in handed[worker] if g]
            done += 1
            if progress:
                progress(desc, done, total)
        elif kind == "summary":
            report.summaries[worker] = payload
    _requeue_dead(workers, devices, handed, groups, report, say)
    for i, w in enumerate(workers):
        w.join(timeout=10)
        report.exit_codes.setdefault(i, w.exitcode)
    _drain(events, report)
    return report


def _requeue_dead(workers, devices, handed, groups, report: DeviceRun, say) -> None:
    """The unfinished items of a worker that died go back to the front of the queue, for the
    workers still asking for work (if none is left, the next run of the command does them)."""
    for i, w in enumerate(workers):
        if w.is_alive() or i in report.exit_codes:
            continue
        report.exit_codes[i] = w.exitcode
        if w.exitcode == 0:
            continue
        lost = [sorted(g) for g in handed.pop(i, []) if g]
        handed[i] = []
        groups[:0] = lost
        report.requeued += len(lost)
        say(f"worker {i} ({devices[i]}) died (exit code {w.exitcode}); "
            f"{sum(len(g) for g in lost)} unfinished item(s) go to the others")


def _drain(events, report: DeviceRun) -> None:
    while True:
        try:
            kind, worker, payload = events.get(timeout=0.2)
        except queue_errors.Empty:
            return
        if kind == "summary":
            report.summaries[worker] = payload


def share_cpu_threads(workers: int) -> int:
    """Give this worker process its share of the cores for torch's and OpenCV's own thread pools
    (each would otherwise start one thread per core in every worker, oversubscribing the CPU that
    renders, decodes and hashes for all of them); returns the share. The core runs without torch."""
    import os

    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:
        pass
    return threads


def _worker(index: int, count: int, device: str, plan, out: str, retry_failed: bool, recompute: bool,
            plugins: list[str], inbox, events) -> None:
    """A worker process: asks for a group whenever it needs work, reports each finished item."""
    from ..registry import load_plugins
    from .runner import run_plan
    from .schedule import LOOKAHEAD
    from .stages import BARRIER

    load_plugins(plugins)
    share_cpu_threads(count)

    def work() -> Iterator:
        while True:
            events.put(("want", index, None))
            group = inbox.get()
            if group is None:
                return
            if not group:   # nothing for now: finish what is held, ask again shortly
                yield BARRIER
                time.sleep(ASK_AGAIN_S)
            yield from group

    summary = run_plan(plan, out, device=device, retry_failed=retry_failed, recompute=recompute,
                       shard=(index, count), work=work(), lookahead=WORKER_LOOKAHEAD if count > 1 else LOOKAHEAD,
                       on_done=lambda item, desc: events.put(("done", index, (item, desc))))
    summary.device = device
    events.put(("summary", index, summary))
