"""Host frames staged ahead of the device: ``ahead`` runs a preparation in a background thread a
bounded number of items early, in order; ``pinned_ahead`` pins host clips for the upload on CUDA
and leaves CPU runs untouched."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from evalkit.features.frames import ahead, pinned_ahead


def test_ahead_keeps_the_order_and_works_in_another_thread():
    main = threading.get_ident()
    seen = []

    def prepare(i):
        seen.append(threading.get_ident())
        time.sleep(0.01 * (5 - i))   # later items finish first: the order must still hold
        return i * i

    assert list(ahead(range(5), prepare)) == [0, 1, 4, 9, 16]
    assert seen and main not in seen


def test_ahead_runs_at_most_depth_items_early():
    started = []

    def prepare(i):
        started.append(i)
        return i

    stream = ahead(range(10), prepare, depth=2)
    assert next(stream) == 0
    time.sleep(0.05)
    assert max(started) <= 3   # item 0 consumed, 1..2 held, at most one more submitted
    assert list(stream) == list(range(1, 10))


def test_ahead_raises_where_the_failing_item_is_consumed():
    def prepare(i):
        if i == 2:
            raise ValueError("item 2 is corrupt")
        return i

    stream = ahead(range(5), prepare)
    assert [next(stream), next(stream)] == [0, 1]
    with pytest.raises(ValueError, match="item 2"):
        next(stream)


def test_on_the_cpu_clips_pass_through_unchanged():
    clips = [np.zeros((2, 4, 4, 3), np.uint8), np.ones((3, 4, 4, 3), np.uint8)]
    out = list(pinned_ahead(clips, "cpu"))
    assert all(a is b for a, b in zip(out, clips))
