"""Defect "double frame repetition": the dataset's ``wan-frames`` and the generator's App. A.1.1
repetition are one rule (evalkit.frame_repeat), applied once per clip; a second
application is an error naming the case, never 24 -> 49 -> 99 frames."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.data.transforms import TransformedVideo, parse_transforms  # noqa: E402
from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

SMALL = dict(steps=1, height=32, width=32, blocks="all")


def source(n):
    return InlineVideo(Video(tp.moving_square(n), 8.0, "src"))


def mt_case(src, case_id="blackswan/subject"):
    return MotionTransferCase(case_id, src, "a cat runs", source_prompt="a dog runs")


def test_dataset_transform_then_generator_repeat_is_an_error_naming_the_case(tiny_dirs):
    gen = GENERATORS.get("mbq")(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), **SMALL)
    # before the fix: 4 -> 9 (dataset) -> 19 -> 21 frames (generator), silently
    repeated = mt_case(TransformedVideo(source(4), parse_transforms("wan-frames")))
    with pytest.raises(EvalkitError, match="blackswan/subject.*already frame-repeated"):
        gen.generate(repeated, 0)


def test_the_rule_is_applied_once_wherever_it_is_applied(tiny_dirs):
    by_generator = GENERATORS.get("mbq")(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), **SMALL)
    by_dataset = GENERATORS.get("mbq")(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), source_frame_repeat=1,
                                       **SMALL)
    raw, converted = mt_case(source(24)), mt_case(TransformedVideo(source(24), parse_transforms("wan-frames")))
    a, fps_a = by_generator.source_clip(raw, by_generator.settings.source_frame_repeat)
    b, fps_b = by_dataset.source_clip(converted, by_dataset.settings.source_frame_repeat)
    assert (len(a), fps_a) == (len(b), fps_b) == (49, 16.0)   # App. A.1.1: 24 -> 49, fps doubled
    assert np.array_equal(a, b)                                # one implementation
    g = by_dataset.generate(converted, 0)
    assert (g.video.num_frames, g.extras["source_frame_repeat"]) == (49, 1)
