"""Plan → work items → cached generations and metric values → results store. Resumable.

Each generation is keyed by the hash of (case content, generator config, seed); each metric
value by the hash of (generation key, case content, metric config, backend identity). A key
that is already in the store is never recomputed, so re-running a command resumes it, and a
process killed at any moment loses at most the item in flight (every write is atomic).
Failures (corrupt input, missing weights, a metric that cannot be computed) are recorded per
item with their reason; the rest of the run continues. The plan is checked and every
component built before the store is opened, so a plan that cannot run leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..cases import Case, Generation, StageTimings
from ..errors import EvalkitError
from ..features.base import FeatureContext
from ..generators.base import Generator
from ..metrics.base import Metric
from ..registry import DATASETS, GENERATORS, METRICS
from .artifacts import load_videos, save_videos
from .failures import failure_reason
from .keys import generation_key, metric_key
from .loads import LOAD_FAILED, GeneratorLoads
from .outcome import INTERRUPTED, Outcome, outcome
from .plan import Plan, check_plan
from .provenance import collect
from .rows import ResultRow
from .store import ResultsStore


@dataclass
class RunSummary:
    run_id: str
    store_path: Path
    generated: int = 0
    generations_cached: int = 0
    computed: int = 0
    metrics_cached: int = 0
    failed: int = 0
    failed: int = 0        # items that failed in this process (the run's totals: ``outcome``)
    loads: dict[str, float] = field(default_factory=dict)          # generator label -> load seconds
    load_failures: dict[str, str] = field(default_factory=dict)    # generator label -> reason
    outcome: Outcome = field(default_factory=lambda: Outcome(None, 0, 0, 0))   # the whole run, all shards

    @property
    def recomputed_nothing(self) -> bool:
        return self.generated == 0 and self.computed == 0

    @property
    def status(self) -> str:
        return self.outcome.status


def load_generation(record: dict[str, Any], root: Path) -> Generation:
    return Generation(load_videos(root / record["artifact"]),
                      StageTimings(record["inversion"], record["optimization"], record["inference"]),
                      int(record["peak_memory_bytes"] or 0), record.get("extras") or {})


def build_components(plan: Plan, device: str) -> tuple[list[Case], list[Generator], list[Metric]]:
    """The plan's cases and its generator and metric instances (nothing loaded yet)."""
    check_plan(plan)
    dataset = DATASETS.get(plan.dataset.name)(**plan.dataset.options)
    cases = dataset.cases()
    if plan.limit is not None:
        cases = cases[: plan.limit]
    if not cases:
        raise EvalkitError(f"dataset {plan.dataset.name!r} produced no cases")
    generators = [GENERATORS.get(g.name)(device=device, **g.options) for g in plan.generators]
    metrics = []
    for m in plan.metrics:
        opts = dict(m.options)
        backend = opts.pop("backend", None)
        metrics.append(METRICS.get(m.name)(backend=backend, device=device, **opts))
    return cases, generators, metrics


def run_plan(plan: Plan, out: str | Path, *, device: str = "cpu", retry_failed: bool = False,
             shard: tuple[int, int] = (0, 1),
             progress: Callable[[str, int, int], None] | None = None) -> RunSummary:
    """Execute ``plan`` into the store under ``out``; returns counts of computed vs cached items.

    ``shard=(i, n)`` takes every n-th work item starting at i, so n processes (one per GPU,
    or n Ray tasks, see evalkit.run.dist) can share one plan and one store.
    """
    index, count = shard
    if not 0 <= index < count:
        raise EvalkitError(f"invalid shard {index}/{count}")
    cases, generators, metrics = build_components(plan, device)
    items = [(c, g, s) for c in cases for g in generators for s in plan.seeds if c.kind in g.case_kinds]
    expected = sum(1 for c, g, _ in items for m in metrics if c.kind in m.spec.case_kinds)
    store = ResultsStore(out)
    run_id = plan.run_id
    try:
        store.start_run(run_id, plan.to_dict(), collect(device, list(plan.seeds)), expected)
        summary = RunSummary(run_id, store.path)
        loads = GeneratorLoads(store, run_id, device, f"{index}/{count}")
        ctx = FeatureContext(device=device)
        mine = items[index::count]
        try:
            for i, (case, gen, seed) in enumerate(mine):
                if progress:
                    progress(f"{case.case_id} × {gen.label()} (seed {seed})", i, len(mine))
                _run_item(store, run_id, case, gen, seed, [m for m in metrics if case.kind in m.spec.case_kinds],
                          ctx, summary, retry_failed, loads)
        except BaseException:   # Ctrl-C, SIGTERM, a full disk: say so in the run's record where it can be written
            with contextlib.suppress(Exception):
                store.finish_run(run_id, INTERRUPTED)
            raise
        if progress:
            progress("done", len(mine), len(mine))
        summary.loads, summary.load_failures = loads.seconds, loads.failures
        summary.outcome = outcome(store.results(run_id), expected)
        store.finish_run(run_id, summary.outcome.status)
        return summary
    finally:
        store.close()


def _needs_generating(record: dict[str, Any] | None, retry_failed: bool) -> bool:
    """Not cached, or a failure to retry: asked to, or one of a load (says nothing about the item)."""
    return record is None or (record["status"] != "ok"
                              and (retry_failed or (record["error"] or "").startswith(LOAD_FAILED)))


def _generate(store: ResultsStore, gkey: str, case: Case, gen: Generator, seed: int,
              summary: RunSummary, loads: GeneratorLoads) -> Generation | None:
    """Generate one item into the store (its artifact and its row); None when it failed."""
    record = {"case_id": case.case_id, "generator": gen.label(), "seed": seed}
    summary.generated += 1
    load_error = loads.ensure(gen)
    try:
        if load_error:
            raise EvalkitError(LOAD_FAILED + load_error)
        generation = gen(case, seed)
        artifact = f"artifacts/{gkey}.npz"
        save_videos(generation.videos, store.root / artifact)
        t = generation.timings
        store.put_generation(gkey, **record, status="ok", artifact=artifact,
                             timings=(t.inversion, t.optimization, t.inference),
                             peak_memory_bytes=generation.peak_memory_bytes, extras=dict(generation.extras))
        return generation
    except Exception as exc:  # recorded per item; the run goes on
        store.put_generation(gkey, **record, status="failed", error=failure_reason(exc))
        summary.failed += 1
        return None


def _run_item(store: ResultsStore, run_id: str, case: Case, gen: Generator, seed: int, metrics: list[Metric],
              ctx: FeatureContext, summary: RunSummary, retry_failed: bool, loads: GeneratorLoads) -> None:
    gkey = generation_key(case, gen.config, seed)
    record = store.generation(gkey)
    generation: Generation | None = None
    if _needs_generating(record, retry_failed):
        generation = _generate(store, gkey, case, gen, seed, summary, loads)
        record = store.generation(gkey)
    else:
        summary.generations_cached += 1
    assert record is not None
    store.add_run_item(run_id, case.case_id, case.kind, case.category, gen.label(), seed, gkey)

    for metric in metrics:
        row = ResultRow(run_id=run_id, case_id=case.case_id, case_kind=case.kind, category=case.category,
                        generator=gen.label(), generator_config=_json(gen.config), seed=seed,
                        metric=metric.column, metric_name=metric.spec.name, backend=metric.backend or "",
                        metric_config=_json(metric.config), generation_key=gkey,
                        metric_key=metric_key(gkey, case, metric))
        if record["status"] != "ok":
            store.add_result(replace(row, metric_key=""))
            continue
        cached = store.metric_value(row.metric_key)
        if cached is not None and not (retry_failed and cached["status"] != "ok"):
            store.add_result(row)
            summary.metrics_cached += 1
            continue
        try:
            if generation is None:
                generation = load_generation(record, store.root)
            result = metric(case, generation, ctx)
            store.put_metric(row.metric_key, status="ok", value=float(result.value), details=dict(result.details),
                             result_row=row)
        except Exception as exc:
            store.put_metric(row.metric_key, status="failed", error=failure_reason(exc), result_row=row)
            summary.failed += 1
        summary.computed += 1


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
