"""MUSIQ (Ke et al. 2021) through pyiqa's architecture, with the SPAQ checkpoint VBench loads.

The model is ``pyiqa.archs.musiq_arch.MUSIQ(pretrained=False)`` (built without any download)
with ``musiq_spaq_ckpt-358bb6af.pth`` loaded by evalkit (``torch.load(weights_only=True)``),
found offline-first in ``$EVALKIT_WEIGHTS_DIR`` then ``$TORCH_HOME/hub/checkpoints``.
``score`` gives the raw MUSIQ-SPAQ mean opinion score per frame (roughly 0–100).

Preprocessing is VBench's ``imaging_quality.transform`` (default mode ``longer``): a frame
whose longer side exceeds 512 is resized so that it is 512 (``int(scale·h) × int(scale·w)``,
torchvision ``Resize(antialias=False)`` on ``load_video``'s float32 tensor: bilinear, neither
rounded nor clamped), then /255.
MUSIQ's own multi-scale patching (longer sides 224 and 384 plus the original) happens inside
the model. Needs the optional ``pyiqa`` package; MUSIQ always runs in float32.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MissingDependencyError, MissingWeightsError
from ..registry import FEATURES
from .base import FeatureBackend

CHECKPOINT = "musiq_spaq_ckpt-358bb6af.pth"
CHECKPOINT_URL = f"https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/{CHECKPOINT}"
MAX_SIDE = 512  # VBench imaging_quality.transform


def import_musiq():
    """pyiqa's MUSIQ class (after making torchvision importable, see evalkit.compat)."""
    from ..compat import ensure_torchvision

    ensure_torchvision()
    try:
        from pyiqa.archs.musiq_arch import MUSIQ
    except ImportError as exc:
        raise MissingDependencyError(f"pyiqa is needed for the musiq backend ({exc}); "
                                     "install it with `pip install pyiqa`") from None
    return MUSIQ


def vbench_resized_size(height: int, width: int, mode: str = "longer") -> tuple[int, int]:
    """Output (h, w) of VBench's imaging-quality transform (no crop)."""
    side = {"longer": max, "shorter": min, "shorter-centercrop": min}.get(mode)
    if side is None or side(height, width) <= MAX_SIDE:
        return height, width
    scale = MAX_SIDE / side(height, width)
    return int(scale * height), int(scale * width)


def vbench_transform(frames, mode: str = "longer"):
    """uint8 (N, H, W, 3) -> float32 (N, 3, h, w), /255, as VBench's ``transform`` on what
    ``load_video`` returns: a float32 tensor, so ``Resize(antialias=False)`` neither rounds
    nor clamps."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.array(frames, dtype=np.uint8)).permute(0, 3, 1, 2).float()
    height, width = x.shape[-2:]
    h, w = vbench_resized_size(height, width, mode)
    if (h, w) != (height, width):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
        if mode == "shorter-centercrop":
            top, left = round((h - MAX_SIDE) / 2.0), round((w - MAX_SIDE) / 2.0)  # torchvision CenterCrop
            x = x[:, :, top:top + MAX_SIDE, left:left + MAX_SIDE]
    return x / 255.0


def load_musiq_state(path: str) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise MissingWeightsError(f"{path}: not a MUSIQ checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "params" in state and isinstance(state["params"], dict):
        state = state["params"]
    if not isinstance(state, dict):
        raise MissingWeightsError(f"{path}: not a MUSIQ state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


@FEATURES.register("musiq")
class MusiqBackend(FeatureBackend):
    weights_id = f"torch.hub:{CHECKPOINT}"
    defaults = {"preprocess": "longer"}
    choices = {"preprocess": ("longer", "shorter", "shorter-centercrop", "none")}
    version = "2"  # 2: VBench's resize on float32 frames, antialias=False (was antialiased, rounded)

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int = 8, **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, **options)
        from ..weights import resolve_checkpoint

        self.batch_size = batch_size
        path = resolve_checkpoint(CHECKPOINT, model="MUSIQ-SPAQ (VBench imaging quality)", url=CHECKPOINT_URL)
        MUSIQ = import_musiq()
        model = MUSIQ(pretrained=False)  # pretrained=False: pyiqa downloads nothing
        try:
            model.load_state_dict(load_musiq_state(str(path)))
        except RuntimeError as exc:
            raise MissingWeightsError(f"{path}: not a MUSIQ-SPAQ state dict "
                                      f"({str(exc).splitlines()[0]})") from None
        self.model = model.eval().to(device)
        self.model.requires_grad_(False)

    def score(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) frames -> (N,) float64 MUSIQ scores (raw, ~0–100)."""
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch_size):
                x = vbench_transform(frames[i:i + self.batch_size], self.options["preprocess"])
                out.append(self.model(x.to(self.device)).reshape(-1).double().cpu())
        return torch.cat(out).numpy()


def install_random_musiq(torch_home, seed: int = 0):
    """A random-weight MUSIQ state dict saved as ``$TORCH_HOME/hub/checkpoints/<SPAQ file>``
    (idempotent), for tests and GPU timings: the real loading path then runs unchanged.
    Its scores are meaningless."""
    from pathlib import Path

    import torch

    path = Path(torch_home) / "hub" / "checkpoints" / CHECKPOINT
    if not path.is_file():
        torch.manual_seed(seed)
        state = import_musiq()(pretrained=False).state_dict()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)
    return path
