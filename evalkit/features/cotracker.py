"""CoTracker point tracks through torch.hub (``facebookresearch/co-tracker``).

CoTracker is not on PyPI. evalkit loads its hub code offline from the torch.hub cache
(``$TORCH_HOME/hub/facebookresearch_co-tracker_<ref>/hubconf.py``) or from a clone named by
``$EVALKIT_COTRACKER_DIR``, builds the model with ``pretrained=False`` and loads the
checkpoint resolved by evalkit.weights, so nothing touches the network unless
``EVALKIT_ALLOW_DOWNLOAD=1``. Calling convention (cotracker/predictor.py): video
B×T×3×H×W float 0–255, ``grid_size`` or ``queries`` B×N×3 (t, x, y), ``segm_mask`` B×1×H×W
→ tracks B×T×N×2 (pixels of the input), visibility B×T×N.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..errors import MissingWeightsError
from ..registry import FEATURES
from ..video import Video
from .tracking import TrackerBackend, Tracks

HUB_REPO = "facebookresearch/co-tracker"


class _CoTrackerBase(TrackerBackend):
    # CoTracker's predictors take one video per forward: CoTracker3 offline's update loop
    # views an expanded (B, T, N, 2) tensor, which fails for B > 1 (predictor.py says (1, T, ...)
    # for v1). Work is shared across videos through the FeatureContext memo instead.
    defaults: dict = {}
    hub_ref: ClassVar[str]
    entry: ClassVar[str]
    checkpoint: ClassVar[str]
    url: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.weights_id = f"torch.hub:{HUB_REPO}:{cls.hub_ref}/{cls.entry}:{cls.checkpoint}"

    def __init__(self, device: str = "cpu", dtype: str = "float32", **options) -> None:
        super().__init__(device=device, dtype=dtype, **options)
        import torch

        from ..weights import download_allowed, resolve_checkpoint, torch_home

        hub_dir = self._hub_dir()
        ckpt_dir = torch_home() / "hub" / "checkpoints"
        try:
            ckpt = resolve_checkpoint(self.checkpoint, model=f"CoTracker ({self.entry})", url=self.url)
        except MissingWeightsError:
            if not download_allowed():
                raise
            torch.hub.load_state_dict_from_url(self.url, model_dir=str(ckpt_dir), map_location="cpu")
            ckpt = resolve_checkpoint(self.checkpoint, model=f"CoTracker ({self.entry})", url=self.url)
        if hub_dir is not None:
            predictor = torch.hub.load(str(hub_dir), self.entry, source="local", pretrained=False)
        else:
            predictor = torch.hub.load(f"{HUB_REPO}:{self.hub_ref}", self.entry, pretrained=False,
                                       trust_repo=True, skip_validation=True)
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state:  # build_cotracker accepts both layouts
            state = state["model"]
        predictor.model.load_state_dict(state)
        self.model = predictor.eval().to(device)
        self._torch = torch

    def _hub_dir(self) -> Path | None:
        from ..weights import download_allowed, torch_home

        cached = torch_home() / "hub" / f"{HUB_REPO.replace('/', '_')}_{self.hub_ref}"
        looked = []
        env = os.environ.get("EVALKIT_COTRACKER_DIR")
        for cand in ([Path(env).expanduser()] if env else []) + [cached]:
            looked.append(str(cand))
            if (cand / "hubconf.py").is_file():
                return cand
        if download_allowed():
            return None
        raise MissingWeightsError(
            f"CoTracker code ({HUB_REPO} @ {self.hub_ref}, entry {self.entry}) not found offline; "
            f"looked for hubconf.py in: {', '.join(looked)}. CoTracker is not on PyPI: run "
            f"`git clone --branch {self.hub_ref} https://github.com/{HUB_REPO} {cached}` and put "
            f"{self.checkpoint} ({self.url}) into {torch_home() / 'hub' / 'checkpoints'}, "
            f"or set EVALKIT_ALLOW_DOWNLOAD=1 to let torch.hub fetch both.")

    def track(self, videos: Sequence[Video], *, grid_size: int = 55, mask: np.ndarray | None = None,
              queries: np.ndarray | None = None) -> list[Tracks]:
        torch = self._torch
        amp = self.dtype != "float32" and self.device.startswith("cuda")
        kwargs = {}
        if queries is not None:
            q = torch.from_numpy(np.asarray(queries, np.float32).reshape(-1, 2))
            kwargs["queries"] = torch.cat([torch.zeros_like(q[:, :1]), q], dim=1)[None].to(self.device)  # (t=0, x, y)
        else:
            kwargs["grid_size"] = int(grid_size)
            if mask is not None:
                kwargs["segm_mask"] = torch.from_numpy(mask.astype(np.float32))[None, None].to(self.device)
        out = []
        for v in videos:
            video = torch.from_numpy(np.array(v.frames)).to(self.device)[None].permute(0, 1, 4, 2, 3).float().contiguous()
            with torch.inference_mode(), torch.autocast("cuda", dtype=getattr(torch, self.dtype), enabled=amp):
                tracks, vis = self.model(video, **kwargs)  # video: 1 T 3 H W, float 0–255
            out.append(Tracks(tracks[0].float().cpu().numpy(), vis[0].cpu().numpy().astype(bool)))
        return out


@FEATURES.register("cotracker3")
class CoTracker3(_CoTrackerBase):
    """CoTracker3 offline (scaled), the default tracker of Motion Fidelity."""
    hub_ref = "main"
    entry = "cotracker3_offline"
    checkpoint = "scaled_offline.pth"
    url = "https://huggingface.co/facebook/cotracker3/resolve/main/scaled_offline.pth"


@FEATURES.register("cotracker1")
class CoTracker1(_CoTrackerBase):
    """CoTracker v1.0 (stride 4, window 8): the checkpoint the DMT authors used."""
    hub_ref = "v1.0"
    entry = "cotracker_w8"
    checkpoint = "cotracker_stride_4_wind_8.pth"
    url = "https://dl.fbaipublicfiles.com/cotracker/cotracker_stride_4_wind_8.pth"
