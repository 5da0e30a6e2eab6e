"""Which denoising steps are guided, and the per-step learning rate and loss weight.

- Guided steps: the first round(fraction · steps) steps of the schedule (DiTFlow Sec. 5.1: the
  first 20 % of 50 steps, i.e. steps 0–9; DMT: t from 1000 to 600, the first 40 %).
- Learning rate: linearly decreasing over the guided steps (DiTFlow, after DMT). Two readings:
  ``endpoints`` (the first guided step uses ``lr_start`` and the last ``lr_end``, as DMT's code
  and DiTFlow's words "from 0.002 to 0.001") and ``ditflow-code`` (DiTFlow's release spaces the
  rates over guided steps + 1 points, so ``lr_end`` itself is never used).
- Loss weight ramps (MotionClone): linear warm-up over the first guided steps and cool-down over
  the last ones.
"""
from __future__ import annotations

import math

from evalkit.errors import EvalkitError

LR_SCHEDULES = ("endpoints", "ditflow-code", "constant")


def guided_steps(num_steps: int, fraction: float, *, what: str = "guidance") -> list[int]:
    """Indices of the guided steps: the first round(fraction · num_steps) (halves round up)."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise EvalkitError(f"{what}: guidance_fraction={fraction} outside [0, 1]")
    return list(range(int(math.floor(float(fraction) * int(num_steps) + 0.5))))


def learning_rate(k: int, n_guided: int, lr_start: float, lr_end: float, schedule: str = "endpoints") -> float:
    """The learning rate of the k-th guided step (0-based) of ``n_guided``."""
    if schedule not in LR_SCHEDULES:
        raise EvalkitError(f"lr_schedule {schedule!r} not in {LR_SCHEDULES}")
    if schedule == "constant" or n_guided <= 1:
        return float(lr_start)
    points = n_guided if schedule == "endpoints" else n_guided + 1
    return float(lr_start) + (float(lr_end) - float(lr_start)) * k / (points - 1)


def ramp_weight(k: int, n_guided: int, warm_up: int, cool_down: int) -> float:
    """MotionClone's loss weight ramp at the k-th guided step: (k+1)/warm_up during the warm-up,
    (n_guided - k)/cool_down during the cool-down, 1 in between."""
    w = 1.0
    if warm_up > 0 and k < warm_up:
        w *= (k + 1) / warm_up
    if cool_down > 0 and k > n_guided - cool_down:
        w *= (n_guided - k) / cool_down
    return w
