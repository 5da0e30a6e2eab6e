"""CoTracker point tracks through torch.hub (``facebookresearch/co-tracker``).

CoTracker is not on PyPI. evalkit loads its hub code offline from the torch.hub cache
(``$TORCH_HOME/hub/facebookresearch_co-tracker_<ref>/hubconf.py``) or from a clone named by
``$EVALKIT_COTRACKER_DIR``, builds the model with ``pretrained=False`` and loads the
checkpoint resolved by evalkit.weights, so nothing touches the network unless
``EVALKIT_ALLOW_DOWNLOAD=1``. Calling convention (cotracker/predictor.py): video
B×T×3×H×W float 0–255, ``grid_size`` or ``queries`` B×N×3 (t, x, y), ``segm_mask`` B×1×H×W
→ tracks B×T×N×2 (pixels of the input), visibility B×T×N.

Videos of one shape are tracked ``batch_size`` to a forward pass (CoTracker3 offline;
``reshape_non_viewable`` lets its update loop take B > 1; each video's tracks equal those of
a batch of one up to kernel rounding, tested). CoTracker v1 keeps one video per pass (its
predictor is written for B = 1). ``dtype``: ``float32`` (the reference arithmetic),
``tf32``, or ``bfloat16`` (autocast: convolutions, matmuls and attention in bf16, the
predictor's resizing and sampling in float32); see evalkit.features.precision.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ..errors import MissingWeightsError
from ..registry import FEATURES
from ..video import Video
from .frames import to_device
from .precision import check_precision, compute_scope
from .tracking import TrackerBackend, Tracks, same_shape_groups

HUB_REPO = "facebookresearch/co-tracker"


def reshape_non_viewable():
    """A torch function mode in which CoTracker3 offline runs on a batch of videos.

    Its update loop starts from ``coords.view(B * T, N, 2)`` of an expanded (B, T, N, 2)
    tensor, which only a batch of one can view ("view size is not compatible with input
    tensor's size and stride"). In this mode a ``Tensor.view`` of a shape that cannot be a
    view returns ``reshape``'s copy: the same values (the code never writes through it)."""
    import torch
    from torch.overrides import TorchFunctionMode

    class ReshapeNonViewable(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is not torch.Tensor.view or any(isinstance(a, torch.dtype) for a in args[1:]):
                return func(*args, **kwargs)
            try:
                return func(*args, **kwargs)
            except RuntimeError:
                return args[0].reshape(*args[1:], **kwargs)

    return ReshapeNonViewable()


class _CoTrackerBase(TrackerBackend):
    defaults: ClassVar[dict[str, Any]] = {}
    takes_device_frames = True
    masks_any_size = True  # the predictor resizes segm_mask to its working size (nearest)
    batch_videos: ClassVar[int] = 1  # default videos per forward pass
    hub_ref: ClassVar[str]
    entry: ClassVar[str]
    checkpoint: ClassVar[str]
    url: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.weights_id = f"torch.hub:{HUB_REPO}:{cls.hub_ref}/{cls.entry}:{cls.checkpoint}"

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int | None = None,
                 **options) -> None:
        super().__init__(device=device, dtype=check_precision(dtype, self.registry_name), **options)
        # videos per forward pass: not an option, the numbers are the same
        self.batch_size = max(1, int(batch_size or self.batch_videos))
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
              queries: np.ndarray | None = None, frames: Sequence | None = None) -> list[Tracks]:
        """Tracks of each video; videos of one shape go ``batch_size`` to a forward pass.
        ``frames``: the videos' uint8 frames already on the device (else uploaded here)."""
        torch = self._torch
        kwargs = {}
        if queries is not None:
            q = torch.from_numpy(np.asarray(queries, np.float32).reshape(-1, 2))
            kwargs["queries"] = torch.cat([torch.zeros_like(q[:, :1]), q], dim=1)[None].to(self.device)  # (t=0, x, y)
        else:
            kwargs["grid_size"] = int(grid_size)
            if mask is not None:  # one mask for all: the predictor reads segm_mask[0, 0]
                kwargs["segm_mask"] = torch.from_numpy(mask.astype(np.float32))[None, None].to(self.device)
        out: list[Tracks | None] = [None] * len(videos)
        for members in same_shape_groups(videos).values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start:start + self.batch_size]
                clips = [to_device(videos[i].frames if frames is None else frames[i], self.device) for i in chunk]
                video = torch.stack(clips).permute(0, 1, 4, 2, 3).float()  # B T 3 H W, float 0–255
                args = dict(kwargs)
                if "queries" in args:
                    args["queries"] = args["queries"].expand(len(chunk), -1, -1)
                with torch.inference_mode(), compute_scope(self.dtype, self.device, autocast=True), \
                        (reshape_non_viewable() if len(chunk) > 1 else nullcontext()):
                    tracks, vis = self.model(video, **args)
                tracks, vis = tracks.float().cpu().numpy(), vis.cpu().numpy().astype(bool)
                for j, i in enumerate(chunk):
                    out[i] = Tracks(tracks[j], vis[j])
        return out  # type: ignore[return-value]


@FEATURES.register("cotracker3")
class CoTracker3(_CoTrackerBase):
    """CoTracker3 offline (scaled), the default tracker of Motion Fidelity."""
    batch_videos = 4  # 49 frames × 3,025 tracks at 384×512: ~5 GB of correlation volumes per video
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
