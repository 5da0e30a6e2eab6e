"""Plan → work items → cached generations and metric values → results store. Resumable.

Each generation is keyed by the hash of (case content, generator config, seed); each metric
value by the hash of (generation key, case content, metric config, backend identity). A key
that is already in the store is never recomputed, so re-running a command resumes it, and a
process killed at any moment loses at most the item in flight (every write is atomic).
Failures (corrupt input, missing weights, a metric that cannot be computed) are recorded per
item with their reason; the rest of the run continues.
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from .artifacts import load_videos, save_videos
from ..cases import Case, Generation, StageTimings
from ..errors import EvalkitError
from ..features.base import FeatureContext
from ..metrics.base import Metric
from .plan import Plan
from .provenance import collect
from ..registry import DATASETS, GENERATORS, METRICS
from .keys import generation_key, metric_key
from .store import ResultsStore

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    run_id: str
    store_path: Path
    generated: int = 0
    generations_cached: int = 0
    computed: int = 0
    metrics_cached: int = 0
    failed: int = 0

    @property
    def recomputed_nothing(self) -> bool:
        return self.generated == 0 and self.computed == 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EvalkitError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


# -- generation artifacts (evalkit.run.artifacts) --------------------------------------------------

def load_generation(record: dict[str, Any], root: Path) -> Generation:
    return Generation(load_videos(root / record["artifact"]),
                      StageTimings(record["inversion"], record["optimization"], record["inference"]),
                      int(record["peak_memory_bytes"] or 0), record.get("extras") or {})


# -- the runner ---------------------------------------------------------------------------------

def build_components(plan: Plan, device: str):
    dataset_spec = plan.dataset
    dataset = DATASETS.get(dataset_spec.name)(**dataset_spec.options)
    cases = dataset.cases()
    if plan.limit is not None:
        cases = cases[: plan.limit]
    if not cases:
        raise EvalkitError(f"dataset {dataset_spec.name!r} produced no cases")
    kinds = {c.kind for c in cases}
    gen_specs = plan.generators or tuple(
        _default_generators(kinds))
    generators = [GENERATORS.get(g.name)(device=device, **g.options) for g in gen_specs]
    metrics = []
    for m in plan.metrics:
        opts = dict(m.options)
        backend = opts.pop("backend", None)
        metric = METRICS.get(m.name)(backend=backend, device=device, **opts)
        if not kinds & set(metric.spec.case_kinds):
            log.warning("metric %s does not apply to %s cases; skipped", m.name, sorted(kinds))
            continue
        metrics.append(metric)
    return dataset, cases, generators, metrics


def _default_generators(kinds: set[str]):
    from .plan import ComponentSpec

    names = [n for n, cls in GENERATORS.items() if cls.weight_free and kinds & set(cls.case_kinds)]
    if not names:
        raise EvalkitError(f"no weight-free generator accepts {sorted(kinds)} cases; pass --generators")
    return [ComponentSpec(n) for n in names]


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
    out = Path(out)
    store = ResultsStore(out)
    try:
        _, cases, generators, metrics = build_components(plan, device)
        run_id = plan.run_id
        seeds = list(plan.seeds)
        store.start_run(run_id, plan.to_dict(), collect(device, seeds))
        summary = RunSummary(run_id, store.path)
        ctx = FeatureContext(device=device)
        items = [(c, g, s) for c in cases for g in generators for s in seeds if c.kind in g.case_kinds]
        items = items[index::count]
        for i, (case, gen, seed) in enumerate(items):
            if progress:
                progress(f"{case.case_id} × {gen.label()} (seed {seed})", i, len(items))
            _run_item(store, run_id, case, gen, seed, [m for m in metrics if case.kind in m.spec.case_kinds],
                      ctx, summary, retry_failed)
        if progress:
            progress("done", len(items), len(items))
        store.finish_run(run_id, "complete" if _all_results_present(store, run_id, cases, generators, metrics, seeds)
                         else "partial")
        return summary
    finally:
        store.close()


def _all_results_present(store: ResultsStore, run_id: str, cases, generators, metrics, seeds) -> bool:
    expected = sum(1 for c in cases for g in generators for _ in seeds if c.kind in g.case_kinds
                   for m in metrics if c.kind in m.spec.case_kinds)
    return len(store.results(run_id)) >= expected


def _run_item(store: ResultsStore, run_id: str, case: Case, gen, seed: int, metrics: list[Metric],
              ctx: FeatureContext, summary: RunSummary, retry_failed: bool) -> None:
    gkey = generation_key(case, gen.config, seed)
    record = store.generation(gkey)
    generation: Generation | None = None
    if record is None or (retry_failed and record["status"] != "ok"):
        try:
            generation = gen(case, seed)
            artifact = f"artifacts/{gkey}.npz"
            save_videos(generation.videos, store.root / artifact)
            t = generation.timings
            store.put_generation(gkey, case_id=case.case_id, generator=gen.label(), seed=seed,
                                 status="ok", artifact=artifact, timings=(t.inversion, t.optimization, t.inference),
                                 peak_memory_bytes=generation.peak_memory_bytes, extras=dict(generation.extras))
        except Exception as exc:  # recorded per item; the run goes on
            store.put_generation(gkey, case_id=case.case_id, generator=gen.label(), seed=seed,
                                 status="failed", error=_reason(exc))
            summary.failed += 1
        summary.generated += 1
        record = store.generation(gkey)
    else:
        summary.generations_cached += 1
    assert record is not None
    store.add_run_item(run_id, case.case_id, case.kind, case.category, gen.label(), seed, gkey)

    for metric in metrics:
        mkey = metric_key(gkey, case, metric)
        row = {"run_id": run_id, "case_id": case.case_id, "case_kind": case.kind, "category": case.category,
               "generator": gen.label(), "generator_config": _json(gen.config), "seed": seed,
               "metric": metric.column, "metric_name": metric.spec.name, "backend": metric.backend or "",
               "metric_config": _json(metric.config), "generation_key": gkey, "metric_key": mkey}
        if record["status"] != "ok":
            store.add_result({**row, "metric_key": ""})
            continue
        cached = store.metric_value(mkey)
        if cached is not None and not (retry_failed and cached["status"] != "ok"):
            store.add_result(row)
            summary.metrics_cached += 1
            continue
        try:
            if generation is None:
                generation = load_generation(record, store.root)
            result = metric(case, generation, ctx)
            store.put_metric(mkey, status="ok", value=float(result.value), details=dict(result.details),
                             result_row=row)
        except Exception as exc:
            store.put_metric(mkey, status="failed", error=_reason(exc), result_row=row)
            summary.failed += 1
        summary.computed += 1


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, sort_keys=True, default=str)
