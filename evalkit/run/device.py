"""Which device a run uses: ``auto`` (a CUDA GPU when there is one, else the CPU), ``cpu``,
``cuda`` or ``cuda:N``. Checked when the plan is made, so ``--device gpu`` or a CUDA device on
a machine without one is one clear error instead of a silent CPU run or a failure per item.
"""
from __future__ import annotations

import re

from ..errors import EvalkitError

DEVICES = "auto, cpu, cuda or cuda:N"


def cuda_devices() -> int:
    """How many CUDA devices torch sees (0 without torch: the core runs without it)."""
    try:
        import torch
    except ImportError:
        return 0
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:   # a broken driver is no GPU
        return 0


def resolve_device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` for ``text``; an EvalkitError for anything else."""
    name = str(text).strip().lower()
    if name == "auto":
        return "cuda" if cuda_devices() else "cpu"
    if name == "cpu":
        return "cpu"
    m = re.fullmatch(r"cuda(?::(\d{1,3}))?", name)
    if not m:
        raise EvalkitError(f"--device {text!r}: expected {DEVICES}")
    count = cuda_devices()
    if not count:
        raise EvalkitError(f"--device {text}: no CUDA device is available here (torch missing, a CPU build, or no "
                           f"GPU); use --device cpu or auto")
    if m.group(1) is not None and int(m.group(1)) >= count:
        raise EvalkitError(f"--device {text}: this machine has {count} CUDA device(s) (cuda:0 … cuda:{count - 1})")
    return name
