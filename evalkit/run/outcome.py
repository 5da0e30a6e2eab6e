"""What a run achieved: counts, its status and its failure reasons grouped with counts.

One reading for every consumer: the runner records the status, ``evalkit run`` prints the
counts and reasons (and exits non-zero when items failed), ``evalkit baseline save`` refuses
an incomplete run, and every report of an incomplete run says so. Counts are over result
rows (case × generator × seed × metric), the unit of every table cell's ``n_items``.

Status:
- ``complete``: every expected result is present and succeeded;
- ``failed``: nothing succeeded;
- ``partial``: anything in between (failures, results still missing: another shard, or an
  interrupted or killed process);
- ``running`` / ``interrupted``: a process is (or was, when it was stopped) working on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

COMPLETE, PARTIAL, FAILED, RUNNING, INTERRUPTED = "complete", "partial", "failed", "running", "interrupted"
GENERATION_FAILED = "generation failed: "


@dataclass(frozen=True)
class Reason:
    """One failure reason and the result rows it explains."""
    count: int
    reason: str
    generators: tuple[str, ...]
    metrics: tuple[str, ...]
    environment: bool = False    # an environment error: retried by the next run

    def line(self) -> str:
        where = ", ".join(self.generators[:3]) + (f" (+{len(self.generators) - 3})" if len(self.generators) > 3 else "")
        what = ", ".join(self.metrics[:3]) + (f" (+{len(self.metrics) - 3})" if len(self.metrics) > 3 else "")
        retry = " [environment: retried by the next run]" if self.environment else ""
        return f"{self.count:>6} × {where} / {what}: {self.reason}{retry}"


@dataclass(frozen=True)
class Outcome:
    expected: int | None     # result rows the plan asks for (None: not recorded, e.g. old baselines)
    ok: int
    failed: int
    pending: int             # a row whose value was never stored (killed between generation and metric)
    reasons: tuple[Reason, ...] = ()

    @property
    def present(self) -> int:
        return self.ok + self.failed + self.pending

    @property
    def missing(self) -> int:
        return max(0, (self.expected or 0) - self.present)

    @property
    def not_ok(self) -> int:
        return self.failed + self.pending + self.missing

    @property
    def status(self) -> str:
        if self.ok == 0 and self.failed:
            return FAILED
        if self.not_ok == 0 and self.present:
            return COMPLETE
        return PARTIAL if self.present or self.expected else FAILED

    def counts(self) -> str:
        """'150 of 150 results failed' / '138 of 150 ok, 12 failed, 3 missing'."""
        total = self.expected if self.expected is not None else self.present
        if self.ok == 0 and self.failed == total:
            return f"{self.failed} of {total} results failed"
        parts = [f"{self.ok} of {total} results ok"]
        parts += [f"{n} {what}" for n, what in ((self.failed, "failed"), (self.pending, "pending"),
                                                (self.missing, "missing")) if n]
        return ", ".join(parts)

    def headline(self, recorded: str | None = None) -> str:
        """'Run status: partial (138 of 150 results ok, 12 failed)'; '' for a complete run.
        ``recorded``: the status in the run's record (``running`` / ``interrupted`` win)."""
        status = self.status if recorded in (None, COMPLETE, PARTIAL, FAILED) else recorded
        if status == COMPLETE:
            return ""
        return f"Run status: {status} ({self.counts()})"

    def note(self, recorded: str | None = None) -> str:
        """The line every report of an incomplete run starts with ('' for a complete run)."""
        head = self.headline(recorded)
        return head and (f"{head}. Cells count failed and missing items; only generators measured "
                         "on the same items are ranked together.")


def outcome(results: pd.DataFrame, expected: int | None = None) -> Outcome:
    """Counts and grouped failure reasons of a run's result rows (``ResultsStore.results``)."""
    if results.empty:
        return Outcome(expected, 0, 0, 0)
    status = results["status"]
    failed = results[status == "failed"]
    env = failed["failure"] == "environment" if "failure" in failed else pd.Series(False, index=failed.index)
    reasons = []
    for (reason, is_env), rows in failed.assign(_env=env).groupby(["error", "_env"], sort=False):
        reasons.append(Reason(len(rows), str(reason), tuple(dict.fromkeys(rows["generator"])),
                              tuple(dict.fromkeys(rows["metric"])), bool(is_env)))
    reasons.sort(key=lambda r: -r.count)
    return Outcome(expected, int((status == "ok").sum()), len(failed), int((status == "pending").sum()),
                   tuple(reasons))
