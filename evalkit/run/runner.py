"""Plan → work items → cached generations and metric values → results store. Resumable.

Each generation is keyed by the hash of (case content, generator config, code and weights
revision, seed); each metric value by the hash of (generation key, case content, metric config,
backend identity). A key that is already in the store is not recomputed (evalkit.run.items says
which failures are retried), so re-running a command resumes it, and a process killed at any
moment loses at most the item in flight (every write is atomic). Failures are recorded per item
with their reason; the rest of the run continues. The plan is checked and every
component built before the store is opened, so a plan that cannot run leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..cases import Case
from ..errors import EvalkitError
from ..features.base import FeatureContext, backend_load_seconds, share_source
from ..features.disk_cache import FeatureDisk
from ..generators.base import Generator
from ..metrics.base import Metric
from ..registry import DATASETS, GENERATORS, METRICS
from .artifacts import clean_temporary_files
from .failures import failure_reason
from .items import CachePolicy, ItemRunner
from .loads import GeneratorLoads
from .outcome import INTERRUPTED, Outcome, outcome
from .plan import Plan, check_plan
from .provenance import collect
from .run_lock import holding
from .schedule import LOOKAHEAD, run_items
from .stages import BARRIER
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
    regenerated: int = 0   # generations whose artifact was missing or changed
    cleaned: int = 0       # temporary files of killed processes removed at start
    failed: int = 0        # items that failed in this process (the run's totals: ``outcome``)
    loads: dict[str, float] = field(default_factory=dict)          # generator label or backend -> load s
    load_failures: dict[str, str] = field(default_factory=dict)    # generator label -> reason
    input_problems: dict[str, list[str]] = field(default_factory=dict)  # generator label -> preflight problems
    input_warnings: dict[str, list[str]] = field(default_factory=dict)  # generator label -> protocol warnings
    outcome: Outcome = field(default_factory=lambda: Outcome(None, 0, 0, 0))   # the whole run, all shards
    device: str = ""       # the device this process ran on (--devices: summed over its workers)
    dead_workers: dict[str, int | None] = field(default_factory=dict)   # --devices: device -> exit code
    stages: dict[str, float] = field(default_factory=dict)   # the device thread's seconds per pipeline stage
    merge_seconds: float = 0.0   # --ray: the driver's seconds merging the tasks' stores (evalkit.run.merge)

    @property
    def recomputed_nothing(self) -> bool:
        return self.generated == 0 and self.computed == 0

    @property
    def status(self) -> str:
        return self.outcome.status


def build_components(plan: Plan, device: str) -> tuple[list[Case], list[Generator], list[Metric]]:
    """The plan's cases and its generator and metric instances (nothing loaded yet). Any
    problem is one EvalkitError naming the component, raised before a store exists."""
    check_plan(plan)
    with _naming(f"dataset {plan.dataset.name!r}"):
        cases = DATASETS.get(plan.dataset.name)(**plan.dataset.options).cases()
    if plan.limit_per_category is not None:
        cases = first_per_category(cases, plan.limit_per_category)
    if plan.limit is not None:
        cases = cases[: plan.limit]
    if not cases:
        raise EvalkitError(f"dataset {plan.dataset.name!r} produced no cases")
    counts = Counter(c.case_id for c in cases)
    if (duplicates := sorted(i for i, n in counts.items() if n > 1)):
        # results are keyed by case id: a second case of one id would silently replace the first
        raise EvalkitError(f"dataset {plan.dataset.name!r}: {len(duplicates)} case id(s) used by several cases: "
                           f"{', '.join(duplicates[:5])}{' …' if len(duplicates) > 5 else ''}; give each case "
                           f"(e.g. each manifest target) its own id")
    generators = []
    for g in plan.generators:
        with _naming(f"generator {g.name!r}"):
            generators.append(GENERATORS.get(g.name)(device=device, **g.options))
    metrics = []
    for m in plan.metrics:
        opts = dict(m.options)
        backend = opts.pop("backend", None)
        with _naming(f"metric {m.name!r}"):
            metrics.append(METRICS.get(m.name)(backend=backend, device=device, **opts))
    _refuse_repeats("generator", [g.label() for g in generators])
    _refuse_repeats("metric column", [m.column for m in metrics])
    return cases, generators, metrics


def _refuse_repeats(what: str, labels: list[str]) -> None:
    """Results are keyed by generator label and metric column: two components under one label
    would write the same rows, so the run's expected count could never be reached."""
    repeated = sorted(label for label, n in Counter(labels).items() if n > 1)
    if repeated:
        raise EvalkitError(f"{what} {', '.join(map(repr, repeated))} given more than once (each label must be "
                           f"unique: drop the repeat, or give a submission its own name=...)")


def first_per_category(cases: list[Case], n: int) -> list[Case]:
    """The first ``n`` cases of each category, in the dataset's order (a prefix of a
    subject-major list would hold one category only)."""
    seen: Counter = Counter()
    kept = []
    for case in cases:
        seen[case.category] += 1
        if seen[case.category] <= n:
            kept.append(case)
    return kept


@contextlib.contextmanager
def _naming(what: str):
    """A plugin's unexpected exception (a KeyError in a template, a ValueError in an option) as
    one EvalkitError naming the plugin; its own EvalkitErrors pass as they are."""
    try:
        yield
    except EvalkitError:
        raise
    except Exception as exc:
        raise EvalkitError(f"{what}: {failure_reason(exc)}") from exc


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n."""
    m = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", str(text))
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise EvalkitError(f"--shard {text!r}: expected i/n with 0 ≤ i < n (e.g. 0/4 … 3/4)")
    return int(m.group(1)), int(m.group(2))


def run_plan(plan: Plan, out: str | Path, *, device: str = "cpu", retry_failed: bool = False,
             recompute: bool = False, shard: tuple[int, int] = (0, 1),
             progress: Callable[..., None] | None = None,
             notice: Callable[[str], None] | None = None,
             work: Iterable[int] | None = None,
             on_done: Callable[[int, str], None] | None = None, lookahead: int = LOOKAHEAD) -> RunSummary:
    """Execute ``plan`` into the store under ``out``; returns counts of computed vs cached items.

    ``progress(label, done, total, values=..., failed=...)`` follows each item and each metric
    value (``done`` a fraction within a window of metrics; ``values`` the metric values stored
    and ``failed`` the items failed in this process so far). ``notice`` receives, before any item
    runs, every problem the generators' preflight found (a submission's missing, unreadable,
    wrongly sized or extra files), one line each.

    ``shard=(i, n)`` takes every n-th work item starting at i, so n processes (one per GPU,
    or n Ray tasks, see evalkit.run.dist) can share one plan and one store. ``retry_failed``
    recomputes item failures, ``recompute`` everything (see evalkit.run.items.CachePolicy).
    ``work`` (item indices pulled as they are needed, or ``BARRIER`` when there is nothing for
    now) replaces the shard's items: the
    ``--devices`` workers are handed theirs this way (evalkit.run.workers); ``on_done(index,
    label)`` follows each item's stored results. Items run through evalkit.run.schedule,
    prepared up to ``lookahead`` items ahead.
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
        with holding(store.root, run_id):   # while this process lives, the run reads 'running'
            provenance = collect(device, list(plan.seeds))
            provenance["generators"] = {g.label(): p for g in generators if (p := g.provenance())}
            store.start_run(run_id, plan.to_dict(), provenance, expected)
            summary = RunSummary(run_id, store.path)
            summary.cleaned = len(clean_temporary_files(store.root / "artifacts"))
            summary.input_problems = {g.label(): p for g in generators if (p := g.preflight(cases, list(plan.seeds)))}
            for label, problems in summary.input_problems.items():
                for line in [f"{label}: {len(problems)} input problem(s); affected items will fail"] + problems:
                    (notice or log.warning)(line)
            summary.input_warnings = {g.label(): w for g in generators
                                      if (w := g.preflight_warnings(cases, list(plan.seeds)))}
            for label, warnings in summary.input_warnings.items():
                for line in [f"{label}: {len(warnings)} protocol warning(s); the items are scored, the warnings "
                             f"listed in results.json and the report"] + warnings:
                    (notice or log.warning)(line)
            loads = GeneratorLoads(store, run_id, device, f"{index}/{count}")
            backends_before = backend_load_seconds()
            ctx = FeatureContext(device=device, disk=FeatureDisk(store.root / "features"))
            worker = ItemRunner(store, run_id, ctx, loads, CachePolicy(retry_failed, recompute), summary)
            cases = {id(c): share_source(c, ctx) for c in cases}   # one decode or render per case, shared
            chosen = range(index, len(items), count) if work is None else work
            mine = (i if i is BARRIER else (i, cases[id(items[i][0])], items[i][1], items[i][2],
                                             [m for m in metrics if items[i][0].kind in m.spec.case_kinds])
                    for i in chosen)
            total = len(range(index, len(items), count)) if work is None else None

            def report(desc: str, done: float, total: int) -> None:   # with this process's counts so far
                progress(desc, done, total, values=summary.computed + summary.metrics_cached, failed=summary.failed)

            try:
                done = run_items(worker, mine, total=total, progress=progress and report, on_done=on_done,
                                 lookahead=lookahead, clock=summary.stages)
            except BaseException:   # Ctrl-C, SIGTERM, a full disk: say so in the run's record where it can be written
                with contextlib.suppress(Exception):
                    store.finish_run(run_id, INTERRUPTED)
                raise
            if progress:
                report("done", done, done)
            summary.load_failures = loads.failures
            summary.loads = {**loads.seconds, **{label: seconds - backends_before.get(label, 0.0)   # metrics' models
                                                 for label, seconds in backend_load_seconds().items()
                                                 if seconds > backends_before.get(label, 0.0)}}
            summary.outcome = outcome(store.results(run_id), expected)
            store.finish_run(run_id, summary.outcome.status)
            return summary
    finally:
        store.close()
