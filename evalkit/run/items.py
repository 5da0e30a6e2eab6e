"""One work item (case × generator × seed): its generation and its metric values, cached.

What the cache reuses (see :mod:`evalkit.run.failures`):
- a success, unless ``recompute``;
- an item failure, unless ``retry_failed`` or ``recompute``;
- never an environment failure (missing weights or data, full disk, out of memory): it is
  recorded, so reports say why the item has no value, and retried by the next run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from ..cases import Case, Generation, StageTimings
from ..errors import EvalkitError
from ..features.base import FeatureContext
from ..generators.base import Generator
from ..metrics.base import Metric
from .artifacts import ArtifactIntegrityError, load_videos, write_artifact
from .failures import ENVIRONMENT, STATUS, failure_class, failure_reason
from .keys import generation_key, generator_identity, metric_key
from .loads import LOAD_FAILED, GeneratorLoads
from .rows import ResultRow
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


class ItemRunner:
    """Runs work items of one run into the store, counting into ``summary``."""

    def __init__(self, store: ResultsStore, run_id: str, ctx: FeatureContext, loads: GeneratorLoads,
                 policy: CachePolicy, summary) -> None:
        self.store, self.run_id, self.ctx, self.loads = store, run_id, ctx, loads
        self.policy, self.summary = policy, summary
        self._identity: dict[int, dict] = {}   # id(generator) -> its identity (weights looked up once)

    def identity(self, gen: Generator) -> dict:
        if id(gen) not in self._identity:
            self._identity[id(gen)] = generator_identity(gen)
        return self._identity[id(gen)]

    def run(self, case: Case, gen: Generator, seed: int, metrics: list[Metric]) -> None:
        gkey = generation_key(case, self.identity(gen), seed, gen.input_fingerprint(case, seed))
        record = self.store.generation(gkey)
        generation: Generation | None = None
        if self.policy.reuses(record) and self._artifact_present(record):
            self.summary.generations_cached += 1
        else:
            generation, record = self._generate(gkey, case, gen, seed)
        self.store.add_run_item(self.run_id, case.case_id, case.kind, case.category, gen.label(), seed, gkey,
                                case.content_hash())
        rows = self._rows(gkey, record, case, gen, seed, metrics)
        todo = [m for m, row in zip(metrics, rows) if record["status"] == "ok"
                and not self.policy.reuses(self.store.metric_value(row.metric_key))]
        if todo and generation is None:
            try:
                generation = load_generation(record, self.store.root)
            except ArtifactIntegrityError:   # replaced or damaged since: regenerate, never measure it
                self.summary.regenerated += 1
                generation, record = self._generate(gkey, case, gen, seed)
                rows = self._rows(gkey, record, case, gen, seed, metrics)   # the digest is in the keys
                todo = metrics
        for metric, row in zip(metrics, rows):
            if record["status"] != "ok":
                self.store.add_result(replace(row, metric_key=""))
            elif metric in todo and not self.policy.reuses(self.store.metric_value(row.metric_key)):
                self._measure(row, metric, case, generation)
            else:
                self.store.add_result(row)
                self.summary.metrics_cached += 1

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

    def _generate(self, gkey: str, case: Case, gen: Generator, seed: int) -> tuple[Generation | None, dict]:
        """Generate one item into the store (its artifact and its row): (generation or None when
        it failed, the stored record)."""
        record = {"case_id": case.case_id, "generator": gen.label(), "seed": seed}
        self.summary.generated += 1
        load_error = self.loads.ensure(gen)
        generation = None
        try:
            if load_error:   # a load failure says nothing about the items: an environment failure
                raise _LoadFailed(LOAD_FAILED + load_error)
            generation = gen(case, seed)
            artifact = f"artifacts/{gkey}.npz"
            digest = write_artifact(generation.videos, self.store.root / artifact)
            t = generation.timings
            self.store.put_generation(gkey, **record, status="ok", artifact=artifact, artifact_digest=digest,
                                      timings=(t.inversion, t.optimization, t.inference),
                                      peak_memory_bytes=generation.peak_memory_bytes, extras=dict(generation.extras))
        except Exception as exc:  # recorded per item; the run goes on
            self.store.put_generation(gkey, **record, status=_status(exc), error=failure_reason(exc))
            self.summary.failed += 1
            generation = None
        stored = self.store.generation(gkey)
        assert stored is not None
        return generation, stored

    def _measure(self, row: ResultRow, metric: Metric, case: Case, generation: Generation) -> None:
        try:
            result = metric(case, generation, self.ctx)
            self.store.put_metric(row.metric_key, status="ok", value=float(result.value),
                                  details=dict(result.details), result_row=row)
        except Exception as exc:
            self.store.put_metric(row.metric_key, status=_status(exc), error=failure_reason(exc), result_row=row)
            self.summary.failed += 1
        self.summary.computed += 1


class _LoadFailed(EvalkitError):
    pass


def _status(exc: BaseException) -> str:
    return STATUS[ENVIRONMENT if isinstance(exc, _LoadFailed) else failure_class(exc)]


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
