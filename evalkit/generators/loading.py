"""Loading a backbone's diffusers pipeline: once per (class, path, dtype, device, scheduler) and process.

Generators call it from :meth:`Generator.load` only, so loading is its own stage and never
inside a generation's timings.
"""
from __future__ import annotations

from typing import Any

from ..errors import EvalkitError, MissingDependencyError
from .backbones import BackboneSpec

DTYPES = ("auto", "float32", "bfloat16", "float16")

_PIPELINES: dict[tuple, Any] = {}


def torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return getattr(torch, name)


def pipeline_class(name: str):
    """A diffusers pipeline class by name, or ``package.module:Class`` (a pipeline evalkit provides:
    the VideoCrafter2 port, AnimateDiff with its motion adapter) with the same ``from_pretrained``."""
    import importlib

    if ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)
    import diffusers

    return getattr(diffusers, name)


def load_pipeline(spec: BackboneSpec, model_path: str | None, dtype: str, device: str):
    """The backbone's pipeline, loaded once per (path, dtype, device) and process."""
    from ..weights import resolve_hf

    path = resolve_hf(model_path or spec.hub_id, what=f"{spec.name} backbone")
    key = (spec.pipeline, str(path), dtype, str(device), spec.scheduler)
    if key not in _PIPELINES:
        from ..compat import ensure_torchvision

        ensure_torchvision()  # diffusers imports transformers, which imports torchvision
        try:
            import diffusers
        except ImportError as exc:  # pragma: no cover - environment
            raise MissingDependencyError(f"{spec.name}: diffusers is not installed ({exc})") from None
        cls = pipeline_class(spec.pipeline)
        try:
            pipe = cls.from_pretrained(str(path), torch_dtype=torch_dtype(dtype, device))
        except (OSError, ValueError) as exc:
            raise EvalkitError(f"{spec.name}: cannot load {spec.pipeline} from {path}: {exc}") from None
        if spec.scheduler and type(pipe.scheduler).__name__ != spec.scheduler:
            sched_cls = getattr(diffusers, spec.scheduler)
            cfg = dict(pipe.scheduler.config)
            # the Wan checkpoint ships UniPC with flow_shift; FlowMatchEuler names it shift
            pipe.scheduler = sched_cls(shift=float(cfg.get("flow_shift", cfg.get("shift", 1.0)) or 1.0))
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        _PIPELINES[key] = pipe
    return _PIPELINES[key]
