"""How a feature backend computes: its ``dtype``, one of :data:`PRECISIONS`.

- ``float32``: float32 weights and activations with PyTorch's default arithmetic, the one
  the reference code (VBench, DMT, DiTFlow) ran with: float32 matmuls in full precision
  (``"highest"``), cuDNN convolutions allowed TF32 (PyTorch's default on Ampere and later).
  The scope pins both, so a generator or user code that turned on TF32 matmuls for the whole
  process cannot change a float32 metric value.
- ``tf32``: float32 weights and tensors, matmuls on TF32 tensor cores as well.
- ``bfloat16`` / ``float16``: weights and activations in that dtype (the transformers
  backends), or float32 weights under autocast (RAFT, CoTracker, whose own code mixes dtypes).

Only ``float32`` reproduces a reference number; the others are explicit choices whose
measured differences are listed in docs/performance.md.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterator

from ..errors import EvalkitError

PRECISIONS = ("float32", "tf32", "bfloat16", "float16")
LOW_PRECISION = ("bfloat16", "float16")


def check_precision(dtype: str, who: str) -> str:
    if dtype not in PRECISIONS:
        raise EvalkitError(f"{who}: dtype {dtype!r} not in {PRECISIONS}")
    return dtype


def weights_dtype(dtype: str):
    """The torch dtype a backend's weights are held in (float32 for ``tf32``)."""
    import torch

    check_precision(dtype, "weights")
    return torch.float32 if dtype == "tf32" else getattr(torch, dtype)


def device_type(device: str) -> str:
    return str(device).split(":")[0]


@contextmanager
def compute_scope(dtype: str, device: str, autocast: bool = False) -> Iterator[None]:
    """Matmul precision for ``dtype`` (restored afterwards) and, with ``autocast``, torch
    autocast to a low-precision ``dtype`` on the device's type (CPU autocast in tests)."""
    import torch

    check_precision(dtype, "compute scope")
    matmul, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high" if dtype == "tf32" else "highest")
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default, which the references ran with
    cast = (torch.autocast(device_type(device), dtype=getattr(torch, dtype))
            if autocast and dtype in LOW_PRECISION else nullcontext())
    try:
        with cast:
            yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = cudnn
