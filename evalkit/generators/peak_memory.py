"""Peak GPU memory of a generation (0 on CPU); stages are timed with evalkit.timing's one timer."""
from __future__ import annotations


def _cuda(device: str) -> bool:
    import torch

    return str(device).startswith("cuda") and torch.cuda.is_available()


def reset_peak_memory(device: str) -> None:
    import torch

    if _cuda(device):
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: str) -> int:
    """``torch.cuda.max_memory_allocated`` since the last reset (0 on CPU)."""
    import torch

    return int(torch.cuda.max_memory_allocated(device)) if _cuda(device) else 0
