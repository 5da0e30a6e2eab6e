"""Tiny plugins registered only in tests, so runner tests don't depend on real metrics."""
from __future__ import annotations

import os
import time

import numpy as np

from evalkit.cases import FileVideo, Generation, InlineVideo, MotionTransferCase
from evalkit.data.base import Dataset
from evalkit.generators.base import Generator
from evalkit.metrics.base import Metric, MetricResult, MetricSpec
from evalkit.registry import DATASETS, GENERATORS, METRICS
from evalkit.video import Video


def square_video(shift: int, t: int = 6, h: int = 24, w: int = 32) -> Video:
    frames = np.full((t, h, w, 3), 40, np.uint8)
    for i in range(t):
        x = 2 + (shift + i) % (w - 8)
        frames[i, 8:14, x:x + 6] = (220, 60, 60)
    return Video(frames, 8.0, f"square{shift}")


@DATASETS.register("test-squares")
class SquaresDataset(Dataset):
    case_kind = "motion-transfer"
    defaults = {"n": 3, "missing": None, "shift": 0}

    def cases(self):
        cases = [MotionTransferCase(f"sq{i}", InlineVideo(square_video(i + self.options["shift"])), "a square",
                                    category="even" if i % 2 == 0 else "odd") for i in range(self.options["n"])]
        if self.options["missing"]:
            cases.append(MotionTransferCase("missing", FileVideo(self.options["missing"]), "a square"))
        return cases


@GENERATORS.register("test-copy")
class SlowCopy(Generator):
    case_kinds = ("motion-transfer",)
    weight_free = True
    defaults = {"sleep": 0.0, "brighten": 0}

    def generate(self, case, seed):
        time.sleep(self.options["sleep"])
        v = case.source.load()
        frames = np.clip(v.frames.astype(int) + self.options["brighten"], 0, 255).astype(np.uint8)
        counter = os.environ.get("EVALKIT_TEST_COUNTER")
        if counter:
            with open(counter, "a") as fh:
                fh.write("g\n")
        return Generation((Video(frames, v.fps, "test-copy"),))


@METRICS.register("test-brightness")
class Brightness(Metric):
    spec = MetricSpec(name="test-brightness", higher_is_better=True, value_range=(0, 255),
                      case_kinds=("motion-transfer",), reference="tests")
    defaults = {"channel": 0}

    def compute(self, case, generation, ctx):
        src = ctx.source_video(case)
        return MetricResult(float(generation.video.frames[..., self.options["channel"]].mean()),
                            {"source_mean": float(src.frames.mean())})


@METRICS.register("test-nan")
class AlwaysNaN(Metric):
    spec = MetricSpec(name="test-nan", higher_is_better=True, value_range=(0, 1),
                      case_kinds=("motion-transfer",), reference="tests")

    def compute(self, case, generation, ctx):
        return MetricResult(float("nan"))


@GENERATORS.register("test-crash")
class CrashingCopy(Generator):
    """Kills its own process on one case (a worker lost to a segfault or the OOM killer every
    time it meets that item); a copy of the source on the others. Not weight-free, so no
    default plan picks it."""
    case_kinds = ("motion-transfer",)
    weight_free = False
    defaults = {"case": ""}

    def generate(self, case, seed):
        if case.case_id == self.options["case"]:
            os._exit(3)
        return Generation((case.source.load(),))
