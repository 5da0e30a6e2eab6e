"""Rendered clips shared by the MTBench CLIP equivalence test and the script that produced its
fixture with the released function (tests/metrics/data/mtbench_released/)."""
from __future__ import annotations

import numpy as np

from evalkit.synthetic import SyntheticSpec, render

PROMPT_DIR = "A_robot_is_dancing_on_the_stage"
CLIPS = [
    {"name": "pan-480x720", "motion": "pan", "frames": 5, "height": 240, "width": 360},   # MTBench's 2:3
    {"name": "rotation-odd", "motion": "rotation", "frames": 4, "height": 237, "width": 301},
]


def clip_frames(spec: dict) -> np.ndarray:
    return render(SyntheticSpec(spec["motion"], num_frames=spec["frames"], height=spec["height"],
                                width=spec["width"])).video.frames
