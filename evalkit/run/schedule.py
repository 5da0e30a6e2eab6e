"""The runner's schedule: CPU stages ahead of the device and behind it, metrics in windows.

Items (case × generator × seed) are planned in order (what the store holds), then prepared in
a thread pool up to ``lookahead`` items ahead (evalkit.run.stages.Lookahead: sources decoded or
rendered once per case, reference generations made, cached artifacts read and checked, content
hashes, frames sent to the device). The calling thread settles each item in order: a model
generator generates on the device, and the artifact is written in the background
(``Behind``: at most ``writes`` in flight, its row stored once the file is in place). Metrics
are measured ``window`` items at a time, their features collected and computed together (one
forward pass over the videos of the window), so the device sees large batches back to back;
metrics without a model run on CPU threads meanwhile, and a window's values are computed
while its last artifacts are still being written (their rows wait for the digests).
An item made by a model is measured at once (its window would wait for the next generation).

Memory is bounded by ``lookahead`` + ``window`` + ``writes`` items. Counts, cache decisions and
stored rows are those of running the items one by one (evalkit.run.items.ItemRunner.run).
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

from .items import Item, ItemRunner
from .stages import BARRIER, Behind, Lookahead

WINDOW, LOOKAHEAD, WRITES = 4, 8, 4


#: where the calling (device) thread's time goes: waiting for prepared items (the CPU stages
#: are behind), waiting for background writes, settling items (model generations included),
#: and measuring windows of metrics (device work and the metrics' own arithmetic)
STAGES = ("waiting for preparation", "waiting for writes", "generating and settling", "metrics")


def run_items(runner: ItemRunner, items: Iterable[tuple], *, total: int | None = None,
              progress: Callable[[str, float, int], None] | None = None,
              on_done: Callable[[int, str], None] | None = None,
              window: int = WINDOW, lookahead: int = LOOKAHEAD, writes: int = WRITES,
              clock: dict[str, float] | None = None) -> int:
    """Run ``items`` — (index, case, generator, seed, metrics) tuples, or ``BARRIER`` when the
    source has nothing for now (what is held is then finished) — through ``runner``; the number
    of items done. ``progress(label, done, total)`` follows each item settled and each metric value
    of a window (``done`` then counts the window's items in part: a fraction); ``on_done(index,
    label)`` follows each item's stored results; ``clock``
    collects the calling thread's seconds per stage (``STAGES``)."""
    planned = (item if item is BARRIER else runner.plan(*item) for item in items)
    pending: list[Item] = []
    done = 0
    clock = {} if clock is None else clock
    waiting, writing, settling, metrics = STAGES

    def timed(stage: str, since: float) -> float:
        now = time.perf_counter()
        clock[stage] = clock.get(stage, 0.0) + now - since
        return now

    def measure(behind: Behind) -> None:
        nonlocal done
        t = time.perf_counter()
        window_done = done

        def tick(finished: int, calls: int) -> None:   # the bar advances within the window
            if progress:
                progress(f"measuring {len(pending)} item(s): {finished}/{calls} values",
                         window_done + len(pending) * finished / calls,
                         total if total is not None else window_done + len(pending))

        values = runner.compute(pending, tick)   # while the last artifacts are written
        t = timed(metrics, t)
        behind.drain()   # the rows of a new generation need its artifact's digest
        t = timed(writing, t)
        runner.store_values(pending, values)
        timed(metrics, t)
        for item in pending:
            done += 1
            if on_done:
                on_done(item.index, item.label)
        pending.clear()

    with Behind(limit=writes) as behind:
        stream = iter(Lookahead(runner.prepare, depth=lookahead)(planned))
        while True:
            t = time.perf_counter()
            try:
                item, prepared = next(stream)
            except StopIteration:
                break
            t = timed(waiting, t)
            if item is BARRIER:   # the source has nothing for now: finish what is held
                measure(behind)
                continue
            prepared.get()   # prepare records its failures on the item; anything else is a bug
            if progress:
                progress(item.label, done, total if total is not None else done + 1)
            runner.settle(item, behind)
            pending.append(item)
            timed(settling, t)
            if len(pending) >= window or (item.make and not item.gen.weight_free):
                measure(behind)
            t = time.perf_counter()
            behind.poll()
            timed(writing, t)
        measure(behind)
    return done
