"""Stage timers and peak memory of a generation (CUDA-synchronised on GPU)."""
from __future__ import annotations

import contextlib
import time


def _cuda(device: str) -> bool:
    import torch

    return str(device).startswith("cuda") and torch.cuda.is_available()


@contextlib.contextmanager
def stage_timer(device: str, out: dict, name: str):
    """Add the wall seconds of the block to ``out[name]``; CUDA-synchronised on both ends."""
    import torch

    cuda = _cuda(device)
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if cuda:
            torch.cuda.synchronize()
        out[name] = out.get(name, 0.0) + time.perf_counter() - t0


def reset_peak_memory(device: str) -> None:
    import torch

    if _cuda(device):
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: str) -> int:
    """``torch.cuda.max_memory_allocated`` since the last reset (0 on CPU)."""
    import torch

    return int(torch.cuda.max_memory_allocated(device)) if _cuda(device) else 0
