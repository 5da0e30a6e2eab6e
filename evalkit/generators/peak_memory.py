"""Peak GPU memory of a generation (0 on CPU); stage timing is evalkit.timing's one timer."""
from __future__ import annotations

from ..timing import stage_timer  # noqa: F401  (re-exported: generators time their stages with it)


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
