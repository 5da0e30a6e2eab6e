"""CPU stages around the device: work done ahead of it and behind it in thread pools.

``Lookahead`` runs a preparation function over a stream of items in a pool, at most ``depth``
items in advance, and yields the results in the items' order: decoding and rendering,
reference generations, artifact reads and content hashes of the next items happen while the
device works on the current ones. ``Behind`` runs jobs (artifact writes) in a pool, at most
``limit`` in flight (memory stays bounded: a submit waits for the oldest), and hands each
result to its follow-up in the calling thread (``poll``/``drain``), which is where the store
is written: SQLite stays on one thread. numpy, OpenCV, PyAV, zlib, hashlib and file I/O release
the GIL for their heavy work, so threads overlap it with the device.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


#: an item a source may yield to make ``Lookahead`` hand over all it holds (then the barrier)
BARRIER = object()


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


class Outcome(Generic[R]):
    """A job's value, or the exception it raised (re-raised by ``get``)."""

    def __init__(self, value: R | None = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error

    def get(self) -> R:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def _outcome(future: Future) -> Outcome:
    try:
        return Outcome(future.result())
    except Exception as exc:  # handed to the item it belongs to
        return Outcome(error=exc)


class Lookahead(Generic[T, R]):
    """``for item, outcome in Lookahead(prepare, depth)(items)``: ``prepare(item)`` runs in the
    pool up to ``depth`` items ahead of the consumer; outcomes come in the items' order. The
    source is read in the consumer's thread (it may read the store); a source with nothing to
    give for now yields ``BARRIER``: the items held are handed over, so none waits for more work."""

    def __init__(self, prepare: Callable[[T], R], depth: int = 8, workers: int | None = None) -> None:
        self.prepare, self.depth = prepare, max(1, depth)
        self.workers = workers or default_workers()

    def __call__(self, items: Iterable[T]) -> Iterator[tuple[T, Outcome[R]]]:
        window: deque[tuple[T, Future]] = deque()
        source = iter(items)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="evalkit-ahead") as pool:
            try:
                for item in source:
                    if item is BARRIER:   # hand over everything submitted, then the barrier itself
                        while window:
                            first, future = window.popleft()
                            yield first, _outcome(future)
                        yield item, Outcome()
                        continue
                    window.append((item, pool.submit(self.prepare, item)))
                    # ``depth`` items stay submitted ahead of the consumer, so the pool keeps
                    # working while the consumer is busy (on the device) with the oldest
                    if len(window) > self.depth:
                        first, future = window.popleft()
                        yield first, _outcome(future)
                while window:
                    first, future = window.popleft()
                    yield first, _outcome(future)
            finally:  # the consumer stopped early (an interrupt): drop what is not started
                for _, future in window:
                    future.cancel()


class Behind:
    """Background jobs with follow-ups in the calling thread; at most ``limit`` in flight."""

    def __init__(self, limit: int = 4, workers: int | None = None) -> None:
        self.limit = max(1, limit)
        self._pool = ThreadPoolExecutor(workers or min(4, default_workers()), thread_name_prefix="evalkit-behind")
        self._jobs: deque[tuple[Future, Callable[[Outcome], Any]]] = deque()

    @property
    def pending(self) -> int:
        """Jobs submitted whose continuation has not run yet (at most ``limit``)."""
        return len(self._jobs)

    def submit(self, job: Callable[[], R], then: Callable[[Outcome[R]], Any]) -> None:
        while len(self._jobs) >= self.limit:
            self._finish_oldest()
        self._jobs.append((self._pool.submit(job), then))

    def poll(self) -> None:
        """Run the follow-ups of the jobs that are done (oldest first, in order)."""
        while self._jobs and self._jobs[0][0].done():
            self._finish_oldest()

    def drain(self) -> None:
        while self._jobs:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        future, then = self._jobs.popleft()
        then(_outcome(future))

    def close(self) -> None:
        """Wait for every job and its follow-up; then stop the pool."""
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "Behind":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:  # interrupted: finish what is running (no half-written artifact), skip follow-ups
            self._pool.shutdown(wait=True, cancel_futures=True)
