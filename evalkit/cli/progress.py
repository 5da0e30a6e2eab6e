"""The progress of ``evalkit run`` on every stream.

- stderr a terminal: a bar that advances within a window of metrics too, with items done/total,
  metric values stored, elapsed time and ETA (rich);
- stderr anything else (a batch job, ``> log 2>&1``): one plain line every ``every`` seconds and
  a last one at the end, e.g.
  ``progress: 12/120 items (10%), 24 values, 0 failed, elapsed 1m02s, ETA 9m18s; case × copy (seed 0)``;
- ``--quiet``: nothing.

The runner calls ``update(label, done, total, values=..., failed=...)``; ``done`` may be a
fraction while a window's metrics run.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


def progress_columns() -> tuple:
    """The terminal display; item labels ("case × mbq[injection_fraction=0.6] (seed 0)") are
    plain text, never rich markup (which would swallow "[...]")."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[values]}", markup=False), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn())


def duration(seconds: float | None) -> str:
    """'45s', '3m05s', '2h07m'; 'unknown' for None."""
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressLog:
    """Plain progress lines for a stream that is not a terminal: the first update, then at most
    one line every ``every`` seconds, and the last update when the block ends (also on Ctrl-C)."""

    def __init__(self, write: Callable[[str], None], every: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write, self.every, self.clock = write, every, clock
        self.start = clock()
        self.last: float | None = None
        self.done: float = 0
        self.total = 0
        self._unshown: str | None = None   # the latest line, when not written yet
        self._lock = threading.Lock()      # metric threads report too

    def update(self, desc: str, done: float, total: int, values: int | None = None,
               failed: int | None = None) -> None:
        with self._lock:
            self.done, self.total = done, total
            now = self.clock()
            self._unshown = self.line(desc, done, total, now - self.start, values, failed)
            if self.last is None or now - self.last >= self.every:
                self.last = now
                self.write(self._unshown)
                self._unshown = None

    def __enter__(self) -> "ProgressLog":
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            if self._unshown is not None:
                self.write(self._unshown)
                self._unshown = None

    @staticmethod
    def line(desc: str, done: float, total: int, elapsed: float, values: int | None = None,
             failed: int | None = None) -> str:
        pct = f" ({100 * done / total:.0f}%)" if total else ""
        counts = "".join(f", {n} {what}" for n, what in ((values, "values"), (failed, "failed")) if n is not None)
        # the rate so far; none before the first item finishes
        eta = elapsed * (total - done) / done if done > 0 and total else None
        return (f"progress: {int(done)}/{total} items{pct}{counts}, elapsed {duration(elapsed)}, "
                f"ETA {duration(eta if done < total else 0)}; {desc}")


class ProgressBar:
    """The terminal bar (rich), transient: the summary replaces it."""

    def __init__(self, console) -> None:
        from rich.progress import Progress

        self.bar = Progress(*progress_columns(), console=console, transient=True)
        self.task = self.bar.add_task("planning", total=None, values="")
        self.done: float = 0
        self.total = 0

    def update(self, desc: str, done: float, total: int, values: int | None = None,
               failed: int | None = None) -> None:
        from ..report.escape import clean

        self.done, self.total = done, total
        shown = "" if values is None else f"{values} values" + (f", {failed} failed" if failed else "")
        self.bar.update(self.task, description=clean(desc), completed=done, total=total, values=shown)

    def __enter__(self) -> "ProgressBar":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


class NoProgress:
    done: float = 0
    total = 0

    def update(self, desc: str, done: float, total: int, values: int | None = None,
               failed: int | None = None) -> None:
        self.done, self.total = done, total


def progress_display(console, *, quiet: bool, every: float):
    """The display for ``console``'s stream (a context manager with ``update``, ``done``, ``total``)."""
    import contextlib

    if quiet:
        return contextlib.nullcontext(NoProgress())
    if console.is_terminal:
        return ProgressBar(console)
    return ProgressLog(lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True), every)
