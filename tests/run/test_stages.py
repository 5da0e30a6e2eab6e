"""CPU stages: lookahead keeps order, overlaps work, stays within its depth and hands errors to
their items; background jobs bound what is in flight and run follow-ups in the caller's thread."""
from __future__ import annotations

import threading
import time

import pytest

from evalkit.run.stages import Behind, Lookahead


def test_lookahead_keeps_order_runs_ahead_and_hands_errors_to_their_items():
    started: list[int] = []

    def prepare(i: int) -> int:
        started.append(i)
        time.sleep(0.02 * (5 - i % 5))  # later items finish first
        if i == 3:
            raise ValueError("item 3 is bad")
        return i * i

    seen = []
    for item, outcome in Lookahead(prepare, depth=4, workers=4)(range(8)):
        if item == 0:
            time.sleep(0.15)
            assert len(started) >= 4  # the next ones were prepared while the consumer worked
        assert len(started) <= item + 5  # never more than depth ahead
        if item == 3:
            with pytest.raises(ValueError, match="item 3 is bad"):
                outcome.get()
            seen.append(None)
        else:
            seen.append(outcome.get())
    assert seen == [0, 1, 4, None, 16, 25, 36, 49]


def test_behind_bounds_jobs_in_flight_and_follows_up_in_the_calling_thread():
    running, peak, followed = [0], [0], []
    lock = threading.Lock()
    caller = threading.get_ident()

    def job(i):
        def run():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.03)
            with lock:
                running[0] -= 1
            if i == 2:
                raise OSError("disk full")
            return i
        return run

    def then(outcome):
        assert threading.get_ident() == caller
        followed.append(outcome.error.__class__.__name__ if outcome.error else outcome.value)

    with Behind(limit=2, workers=4) as behind:
        for i in range(6):
            behind.submit(job(i), then)
            assert behind.pending <= 2
    assert peak[0] <= 2 and followed == [0, 1, "OSError", 3, 4, 5]


def test_a_barrier_hands_over_everything_held():
    from evalkit.run.stages import BARRIER

    got = []
    source = [1, 2, BARRIER, 3]
    for item, outcome in Lookahead(lambda i: i * 10, depth=8, workers=2)(source):
        got.append("barrier" if item is BARRIER else outcome.get())
    assert got == [10, 20, "barrier", 30]  # 1 and 2 came out before the source went on
