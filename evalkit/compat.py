"""Import torchvision on CPU-only torch.

On these machines the only torchvision wheel matching torch 2.13.0 is a CUDA build: on CPU
torch its ``_C`` extension cannot load and ``import torchvision`` raises
``RuntimeError: operator torchvision::nms does not exist`` (transformers, timm and
open_clip import torchvision and fail with it). Defining the two operator schemas that
torchvision's Python code registers fake kernels for lets it import; models, transforms
and RAFT then work, only the compiled ops (nms, roi_align, jpeg io) raise if called.
Call ``ensure_torchvision()`` before anything imports torchvision; it is a no-op where
torchvision imports normally.
"""
from __future__ import annotations

import importlib
import sys
import threading

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_state: dict[str, object] = {}
_lock = threading.RLock()   # models load on a preload thread too: patch once


def ensure_torchvision():
    """Import and return torchvision, patching the missing operator schemas only if needed."""
    with _lock:
        if "module" in _state:
            return _state["module"]
        try:
            module = importlib.import_module("torchvision")
            _state["patched"] = False
        except RuntimeError as exc:
            if "torchvision::nms does not exist" not in str(exc):
                raise
            for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
                del sys.modules[name]
            import torch

            lib = torch.library.Library("torchvision", "FRAGMENT")
            for schema in _SCHEMAS:
                lib.define(schema)
            _state["library"] = lib  # keep the fragment alive for the process
            module = importlib.import_module("torchvision")
            _state["patched"] = True
        _state["module"] = module
        return module


def torchvision_was_patched() -> bool:
    ensure_torchvision()
    return bool(_state["patched"])
