"""AMT-S frame interpolation (``amt-s``) exactly as VBench's Motion Smoothness runs it.

Network: ``evalkit.features.amt_net`` (AMT, Li et al. CVPR 2023) with the official checkpoint
``amt-s.pth`` (``{"state_dict": ...}``, loaded strictly with ``torch.load(weights_only=True)``),
found offline-first in ``$EVALKIT_WEIGHTS_DIR`` then ``$TORCH_HOME/hub/checkpoints``.

``interpolate(frames)`` gives the midpoint of every two consecutive frames, as VBench's
``motion_score`` computes it (vbench/motion_smoothness.py, vbench/third_party/amt/utils/utils.py):
uint8 → float32 ``/ 255.0`` (``img2tensor``); replicate-padded to multiples of 16, half per side
(``InputPadder``, divisor ``int(16 / scale)`` with scale 1); ``embt = 0.5``; the prediction
cropped back and turned into uint8 by ``(x · 255).clip(0, 255).astype(uint8)`` (``tensor2img``:
truncation, not rounding). Always float32 (VBench's dtype).

VBench's ``scale`` (the AMT demo's VRAM-based down-scaling) is 1 in VBench's evaluation:
``initialization`` compares ``torch.device("cuda") == 'cuda'``, which is False, so the CPU branch
(no scaling) runs on every device; evalkit therefore always interpolates at full resolution.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EvalkitError, InvalidInputError, MissingWeightsError
from ..registry import FEATURES
from .base import FeatureBackend

CHECKPOINT = "amt-s.pth"
CHECKPOINT_URL = "https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth"  # VBench pretrained/amt_model/download.sh
PAD_MULTIPLE = 16     # VBench: InputPadder(divisor=int(16 / scale)), scale = 1
MIN_PADDED_SIDE = 128  # the correlation pyramid (4 levels from 1/8) is ≥ 2 px wide only from 128 px
MIDPOINT = 0.5        # VBench: embt = torch.tensor(1/2)


def checkpoint_path():
    """The amt-s.pth file (offline-first; fetched only with EVALKIT_ALLOW_DOWNLOAD=1)."""
    from ..weights import download_allowed, resolve_checkpoint, torch_home

    what = "AMT-S (VBench motion smoothness)"
    try:
        return resolve_checkpoint(CHECKPOINT, model=what, url=CHECKPOINT_URL)
    except MissingWeightsError:
        if not download_allowed():
            raise
        import torch

        target = torch_home() / "hub" / "checkpoints"
        target.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(CHECKPOINT_URL, str(target / CHECKPOINT))
        return resolve_checkpoint(CHECKPOINT, model=what, url=CHECKPOINT_URL)


def load_amt(path, config=None):
    """An AMT network (AMT-S unless ``config``) with the weights of checkpoint ``path``, in eval mode.
    The official file holds ``{"state_dict": ...}`` (VBench loads ``ckpt['state_dict']``);
    a bare state dict is accepted too."""
    import torch

    from .amt_net import AMT_S, build_amt

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for corrupt or foreign files
        raise MissingWeightsError(f"{path}: not an AMT checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    model = build_amt(config or AMT_S)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise MissingWeightsError(f"{path}: not an AMT-S state dict ({str(exc).splitlines()[0]})") from None
    return model.eval().requires_grad_(False)


def padded_size(height: int, width: int) -> tuple[int, int]:
    return height + (-height) % PAD_MULTIPLE, width + (-width) % PAD_MULTIPLE


@FEATURES.register("amt-s")
class AMTInterpolator(FeatureBackend):
    """``model``: any module with AMT's ``forward(img0, img1, embt)`` instead of the checkpoint
    (tests inject an oracle interpolator through this same code path)."""
    weights_id = f"torch.hub:{CHECKPOINT}"
    defaults = {"batch_size": 8}  # frame pairs per forward

    def __init__(self, device: str = "cpu", dtype: str = "float32", model: Any = None, **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, **options)
        if int(self.options["batch_size"]) < 1:
            raise EvalkitError(f"amt-s: batch_size must be ≥ 1, got {self.options['batch_size']}")
        if model is None:
            model = load_amt(checkpoint_path())
        else:
            self.weights_id = f"injected:{type(model).__qualname__}"
        self.model = model.to(device)

    def interpolate(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3), N ≥ 2 -> uint8 (N−1, H, W, 3): the frame halfway between each two
        consecutive frames."""
        import torch

        from .raft import pad_to_multiple  # AMT's InputPadder pads as RAFT's

        n, h, w = frames.shape[:3]
        ph, pw = padded_size(h, w)
        if min(ph, pw) < MIN_PADDED_SIDE:
            raise InvalidInputError(
                f"AMT-S needs frames of at least {MIN_PADDED_SIDE - PAD_MULTIPLE + 1} px per side ({h}x{w} pads to "
                f"{ph}x{pw}; below {MIN_PADDED_SIDE} its coarsest correlation level is 1 px wide and the "
                f"reference network returns NaN)")
        out = np.empty((n - 1, h, w, 3), np.uint8)
        bs = int(self.options["batch_size"])
        with torch.inference_mode():
            for s in range(0, n - 1, bs):
                e = min(s + bs, n - 1)
                x = torch.from_numpy(np.ascontiguousarray(frames[s:e + 1])).to(self.device).permute(0, 3, 1, 2)
                x, (top, _, left, _) = pad_to_multiple(x.float() / 255.0, PAD_MULTIPLE)
                embt = torch.full((e - s, 1, 1, 1), MIDPOINT, device=x.device)
                pred = self.model(x[:-1], x[1:], embt)[..., top:top + h, left:left + w]
                if not torch.isfinite(pred).all():
                    raise EvalkitError(f"amt-s produced non-finite values for frame pairs {s}..{e - 1}")
                out[s:e] = (pred * 255.0).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return out
