"""What a run records about where its numbers came from."""
from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .. import __version__

PACKAGES = ("numpy", "opencv-python-headless", "av", "scikit-image", "torch", "torchvision", "transformers",
            "diffusers", "open_clip_torch", "huggingface_hub", "pandas")


def git_commit() -> str | None:
    """Commit of the evalkit checkout (with ``+dirty`` when it has uncommitted changes)."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_description(device: str) -> str:
    if device.startswith("cuda"):
        try:
            import torch

            idx = torch.device(device).index or 0
            return f"{device} ({torch.cuda.get_device_name(idx)})"
        except Exception as exc:  # torch missing or no GPU: say so rather than fail the run
            return f"{device} (unavailable: {exc})"
    return f"cpu ({platform.processor() or platform.machine()})"


def collect(device: str, seeds: list[int]) -> dict:
    return {"evalkit_version": __version__, "git_commit": git_commit(), "packages": package_versions(),
            "device": device_description(device), "seeds": list(seeds), "python": sys.version.split()[0],
            "platform": platform.platform()}
