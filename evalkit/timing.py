"""Wall-clock stage timing, CUDA-synchronised on both ends when the device is a GPU.

The one timer of evalkit: generators time their stages (inversion, optimization, inference)
with it and the runner times each generator's ``load``. torch is imported only for a CUDA
device, so timing on CPU needs no torch.
"""
from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator


def _synchronizer(device: str) -> Callable[[], None] | None:
    if not str(device).startswith("cuda"):
        return None
    import torch

    return torch.cuda.synchronize if torch.cuda.is_available() else None


@contextlib.contextmanager
def stage_timer(device: str, out: dict, name: str) -> Iterator[None]:
    """Add the wall seconds of the ``with`` block to ``out[name]`` (also when it raises)."""
    sync = _synchronizer(device)
    if sync:
        sync()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if sync:
            sync()
        out[name] = out.get(name, 0.0) + time.perf_counter() - t0
