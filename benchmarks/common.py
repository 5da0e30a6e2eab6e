"""What the generation benchmarks share: the environment they record and the loop over models
that keeps the other models' figures when one fails (each written to ``--out`` as it comes)."""
from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable


def environment(device: str, **extra: Any) -> dict:
    """torch (and diffusers) versions and the device's name."""
    import torch

    env = {"torch": torch.__version__,
           "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu", **extra}
    try:
        import diffusers

        env["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    return env


def run_models(models: Iterable[str], bench_one: Callable[[str], dict], results: dict, out: str = "") -> dict:
    """``bench_one(model)`` for each model into ``results["runs"]``; a failure is recorded as the
    model's error (with its traceback on stderr) and the loop goes on."""
    results.setdefault("runs", [])
    for model in models:
        try:
            results["runs"].append(bench_one(model))
        except Exception as exc:  # keep the other models' figures
            traceback.print_exc()
            results["runs"].append({"model": model, "error": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(results["runs"][-1], indent=1), flush=True)
        if out:
            Path(out).write_text(json.dumps(results, indent=1))
    return results


def write_report(path: Path | None, report: dict) -> None:
    """The benchmark's JSON report at ``path`` (its folder made), if one was asked for."""
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


def random_source_case(frames: int, height: int, width: int, **fields: Any):
    """The overhead benchmarks' motion-transfer case: a random uint8 source video (seed 0) with
    a target and a source prompt (``fields`` adds e.g. subjects)."""
    import numpy as np

    from evalkit.cases import InlineVideo, MotionTransferCase
    from evalkit.video import Video

    video = Video(np.random.default_rng(0).integers(0, 256, (frames, height, width, 3), np.uint8), 8.0)
    return MotionTransferCase("bench", InlineVideo(video), "target", source_prompt="source", **fields)


def release_device_memory(device: str) -> None:
    """Hand the CUDA cache back between models (after the caller dropped its pipeline)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
