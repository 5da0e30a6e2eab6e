"""Runtime metric: total seconds from Generation.timings; stages and peak memory as details."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.cases import Generation, InlineVideo, MotionTransferCase, StageTimings
from evalkit.errors import EvalkitError
from evalkit.registry import METRICS
from evalkit.video import Video


def test_runtime_sums_stages():
    m = METRICS.get("runtime")()
    assert m.spec.higher_is_better is False and m.spec.backends == ()
    video = Video(np.zeros((2, 4, 4, 3), np.uint8))
    case = MotionTransferCase("c", InlineVideo(video), "x")
    gen = Generation((video,), StageTimings(inversion=1.5, optimization=0.25, inference=4.0), 1 << 30)
    r = m(case, gen, None)
    assert r.value == pytest.approx(5.75)
    assert r.details == {"inversion": 1.5, "optimization": 0.25, "inference": 4.0, "peak_memory_bytes": 1 << 30}
    bad = Generation((video,), StageTimings(inference=float("nan")))
    with pytest.raises(EvalkitError, match="runtime"):
        m(case, bad, None)
