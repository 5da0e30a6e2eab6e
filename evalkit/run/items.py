"""One work item (case × generator × seed): its generation and its metric values, cached.

What the cache reuses (see :mod:`evalkit.run.failures`):
- a success, unless ``recompute``;
- an item failure, unless ``retry_failed`` or ``recompute``;
- never an environment failure (missing weights or data, full disk, out of memory): it is
  recorded, so reports say why the item has no value, and retried by the next run.
"""
from __future__ import annotations

import itertools
import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..cases import Case, Generation, StageTimings
from ..errors import EvalkitError
from ..features.base import FeatureContext, call_batched
from ..generators.base import Generator
from ..metrics.base import Metric
from .artifacts import ArtifactIntegrityError, load_videos, write_artifact
from .failures import ENVIRONMENT, STATUS, failure_class, failure_reason
from .keys import generation_key, generator_identity, metric_key
from .loads import LOAD_FAILED, GeneratorLoads
from .rows import ResultRow
from .stages import Behind, default_workers
from .store import ResultsStore


@dataclass(frozen=True)
class CachePolicy:
    retry_failed: bool = False   # recompute item failures
    recompute: bool = False      # recompute everything

    def reuses(self, record: dict[str, Any] | None) -> bool:
        if record is None or self.recompute:
            return False
        if record["status"] == "ok":
            return True
        return record["status"] == STATUS["item"] and not self.retry_failed


def load_generation(record: dict[str, Any], root) -> Generation:
    """A stored generation; its artifact must be the one recorded (ArtifactIntegrityError)."""
    return Generation(load_videos(root / record["artifact"], record.get("artifact_digest") or None),
                      StageTimings(record["inversion"], record["optimization"], record["inference"]),
                      int(record["peak_memory_bytes"] or 0), record.get("extras") or {})


@dataclass(eq=False)
class Item:
    """One work item on its way through the stages (evalkit.run.schedule)."""
    index: int
    case: Case
    gen: Generator
    seed: int
    metrics: list[Metric]
    gkey: str = ""
    record: dict[str, Any] | None = None   # the stored generation (after it is stored, if made here)
    make: bool = False                     # generate it: not reusable, or its artifact is gone
    generation: Generation | None = None
    error: BaseException | None = None     # why the generation failed (made in a worker)
    regenerate: bool = False               # its stored artifact changed: made again
    rows: list[ResultRow] = field(default_factory=list)
    todo: list[Metric] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.case.case_id} × {self.gen.label()} (seed {self.seed})"


class ItemRunner:
    """Runs work items of one run into the store, counting into ``summary``, in stages:
    ``plan`` (what is cached; the calling thread), ``prepare`` (CPU work: a worker thread),
    ``settle`` (generation on the device, artifact write in the background), ``measure``
    (the metrics of several items together). ``run`` chains them for one item."""

    def __init__(self, store: ResultsStore, run_id: str, ctx: FeatureContext, loads: GeneratorLoads,
                 policy: CachePolicy, summary) -> None:
        self.store, self.run_id, self.ctx, self.loads = store, run_id, ctx, loads
        self.policy, self.summary = policy, summary
        self._identity: dict[int, dict] = {}   # id(generator) -> its identity (weights looked up once)
        self._preloaded: set[int] = set()      # id(metric) whose models are loading or loaded

    def identity(self, gen: Generator) -> dict:
        if id(gen) not in self._identity:
            self._identity[id(gen)] = generator_identity(gen)
        return self._identity[id(gen)]

    def run(self, case: Case, gen: Generator, seed: int, metrics: list[Metric]) -> None:
        """One item through every stage, here and now."""
        with Behind(limit=1, workers=1) as behind:
            item = self.prepare(self.plan(0, case, gen, seed, metrics))
            self.settle(item, behind)
        self.measure([item])

    # -- stages ------------------------------------------------------------------------
    def plan(self, index: int, case: Case, gen: Generator, seed: int, metrics: list[Metric]) -> Item:
        """What the store holds for the item (calling thread: the store's)."""
        item = Item(index, case, gen, seed, metrics)
        item.gkey = generation_key(case, self.identity(gen), seed, gen.input_fingerprint(case, seed))
        item.record = self.store.generation(item.gkey)
        if self.policy.reuses(item.record) and self._artifact_present(item.record):
            self.summary.generations_cached += 1
            self._plan_metrics(item)
        else:
            item.make = True
            self.loads.ensure(gen)   # loaded here, before a worker may use it (reference generators)
        self._preload(item.metrics if item.make else item.todo)
        return item

    def prepare(self, item: Item) -> Item:
        """CPU work (a worker thread): the source decoded or rendered, a reference generation
        made, a cached generation read and checked, content hashes, frames sent to the device."""
        try:
            measured = item.metrics if item.make else item.todo
            if getattr(item.case, "source", None) is not None and (
                    (item.make and item.gen.weight_free) or any("source" in m.inputs for m in measured)):
                source = self.ctx.source_video(item.case)
                source.fingerprint()
                self.ctx.prefetch(source)
            if item.make and item.gen.weight_free and not self.loads.error(item.gen):
                item.generation = item.gen(item.case, item.seed)
            elif not item.make and item.todo:
                try:
                    item.generation = load_generation(item.record, self.store.root)
                except ArtifactIntegrityError:   # replaced or damaged since: regenerate, never measure it
                    item.make = item.regenerate = True
                    if item.gen.weight_free:
                        item.generation = item.gen(item.case, item.seed)
            for video in item.generation.videos if item.generation else ():
                video.fingerprint()   # the feature keys hash the frames: here, not on the device's thread
                self.ctx.prefetch(video)
        except Exception as exc:  # noqa: BLE001 - the generation's failure, recorded by settle
            item.error = exc
        return item

    def settle(self, item: Item, behind: Behind) -> None:
        """Generate what must be (on the device, here), write its artifact in the background."""
        if item.make:
            if item.regenerate:
                self.summary.regenerated += 1
            self._generate(item, behind)
        self.store.add_run_item(self.run_id, item.case.case_id, item.case.kind, item.case.category,
                                item.gen.label(), item.seed, item.gkey, item.case.content_hash())

    def measure(self, items: list[Item]) -> None:
        """The metrics of ``items`` together (features batched across their videos), stored."""
        self.store_values(items, self.compute(items))

    def compute(self, items: list[Item], tick: Callable[[int, int], None] | None = None
                ) -> dict[tuple[int, int], tuple[bool, Any]]:
        """The values of the metrics ``items`` still need, by (id(item), id(metric)). Model
        metrics run here, their features batched over the items' videos; host metrics (no
        model) run meanwhile on CPU threads. An item whose artifact is still being written
        is measured too: its rows wait for the digest (``store_values``), not its values.
        ``tick(finished, calls)`` follows each value (or failure), from the thread that made it,
        so a progress display advances within a window."""
        calls = [(item, m) for item in items for m in item.todo]
        host = [c for c in calls if not c[1].uses_model]
        device = [c for c in calls if c[1].uses_model]
        finished = itertools.count(1)   # next() is atomic: host threads tick concurrently

        def call(item: Item, metric: Metric) -> Any:
            # a value or a failure finishes a call; FeatureDeferred (a BaseException: its features
            # are batched first, then it is called again) does not
            try:
                value = metric(item.case, item.generation, self.ctx)
            except Exception:
                if tick:
                    tick(next(finished), len(calls))
                raise
            if tick:
                tick(next(finished), len(calls))
            return value

        with ThreadPoolExecutor(max(1, min(len(host), default_workers())), "evalkit-host-metric") as pool:
            futures = [pool.submit(call, *c) for c in host]
            outcomes = call_batched(self.ctx, [lambda c=c: call(*c) for c in device])
            outcomes += [_outcome_of(f) for f in futures]
        return {(id(i), id(m)): outcome for (i, m), outcome in zip(device + host, outcomes)}

    def store_values(self, items: list[Item], results: dict[tuple[int, int], tuple[bool, Any]]) -> None:
        """Store the rows of ``items`` (their generations stored) with the values ``compute``
        found; a value the store already holds is kept, as the cache policy says."""
        for item in items:
            for metric, row in zip(item.metrics, item.rows):
                if item.record is None or item.record["status"] != "ok":
                    self.store.add_result(replace(row, metric_key=""))
                elif (id(item), id(metric)) in results and not self.policy.reuses(self.store.metric_value(row.metric_key)):
                    self._store_value(row, *results[(id(item), id(metric))])
                else:
                    self.store.add_result(row)
                    self.summary.metrics_cached += 1

    # -- helpers -----------------------------------------------------------------------
    def _preload(self, metrics: list[Metric]) -> None:
        """Start loading the models of metrics with work to do, while the items are prepared
        (a run the store already holds loads nothing)."""
        fresh = [m for m in metrics if id(m) not in self._preloaded]
        self._preloaded.update(id(m) for m in fresh)
        loads = [load for m in fresh for load in m.backend_loads()]
        if loads:
            self.ctx.preload(loads)

    def _plan_metrics(self, item: Item) -> None:
        item.rows = self._rows(item.gkey, item.record, item.case, item.gen, item.seed, item.metrics)
        item.todo = [m for m, row in zip(item.metrics, item.rows) if item.record["status"] == "ok"
                     and not self.policy.reuses(self.store.metric_value(row.metric_key))]

    def _artifact_present(self, record: dict[str, Any]) -> bool:
        """A failure has none; a success needs its file (a deleted artifact is regenerated)."""
        if record["status"] != "ok" or (self.store.root / record["artifact"]).is_file():
            return True
        self.summary.regenerated += 1
        return False

    def _rows(self, gkey: str, record: dict[str, Any], case: Case, gen: Generator, seed: int,
              metrics: list[Metric]) -> list[ResultRow]:
        digest = record.get("artifact_digest") or ""
        return [ResultRow(run_id=self.run_id, case_id=case.case_id, case_kind=case.kind, category=case.category,
                          case_hash=case.content_hash(), generator=gen.label(), generator_config=_json(gen.config),
                          seed=seed, metric=m.column, metric_name=m.spec.name, backend=m.backend or "",
                          metric_config=_json(m.config), generation_key=gkey,
                          metric_key=metric_key(gkey, case, m, digest)) for m in metrics]

    def _generate(self, item: Item, behind: Behind) -> None:
        """Make the item's generation (unless a worker made it) and store it: the artifact is
        written in the background, its row stored once the file is in place."""
        record = {"case_id": item.case.case_id, "generator": item.gen.label(), "seed": item.seed}
        self.summary.generated += 1
        try:
            if (load_error := self.loads.ensure(item.gen)):   # says nothing about the item: an environment failure
                raise _LoadFailed(LOAD_FAILED + load_error)
            if item.error is not None:
                raise item.error
            if item.generation is None:
                item.generation = item.gen(item.case, item.seed)
        except Exception as exc:  # recorded per item; the run goes on
            self._failed_generation(item, record, exc)
            return
        generation, artifact = item.generation, f"artifacts/{item.gkey}.npz"
        source = self.ctx.source_video(item.case) if item.gen.weight_free and hasattr(item.case, "source") else None

        def stored(outcome) -> None:
            if outcome.error is not None:   # e.g. a full disk: recorded per item, like any failure
                item.generation = None
                self._failed_generation(item, record, outcome.error)
                return
            t = generation.timings
            self.store.put_generation(item.gkey, **record, status="ok", artifact=artifact, artifact_digest=outcome.value,
                                      timings=(t.inversion, t.optimization, t.inference),
                                      peak_memory_bytes=generation.peak_memory_bytes, extras=dict(generation.extras))
            item.record = self.store.generation(item.gkey)
            self._plan_metrics(item)

        item.todo = list(item.metrics)   # measured while the artifact is written; ``stored`` decides the rows
        behind.submit(lambda: write_artifact(generation.videos, self.store.root / artifact, source), stored)

    def _failed_generation(self, item: Item, record: dict, exc: BaseException) -> None:
        self.store.put_generation(item.gkey, **record, status=_status(exc), error=failure_reason(exc))
        self.summary.failed += 1
        item.generation, item.record = None, self.store.generation(item.gkey)
        item.rows = self._rows(item.gkey, item.record, item.case, item.gen, item.seed, item.metrics)
        item.todo = []

    def _store_value(self, row: ResultRow, ok: bool, value: Any) -> None:
        if ok:
            self.store.put_metric(row.metric_key, status="ok", value=float(value.value),
                                  details=dict(value.details), result_row=row)
        else:
            self.store.put_metric(row.metric_key, status=_status(value), error=failure_reason(value), result_row=row)
            self.summary.failed += 1
        self.summary.computed += 1


class _LoadFailed(EvalkitError):
    pass


def _outcome_of(future: Future) -> tuple[bool, Any]:
    try:
        return True, future.result()
    except Exception as exc:  # the call's own failure, recorded by the caller
        return False, exc


def _status(exc: BaseException) -> str:
    return STATUS[ENVIRONMENT if isinstance(exc, _LoadFailed) else failure_class(exc)]


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
