"""RAFT optical flow through torchvision: ``raft_large`` with ``Raft_Large_Weights.C_T_V1``,
torchvision's port of the original ``raft-things.pth`` that VBench's Dynamic Degree loads.

Weights are resolved offline-first (``$EVALKIT_WEIGHTS_DIR`` then
``$TORCH_HOME/hub/checkpoints``) under the file name torchvision itself uses.
"""
from __future__ import annotations

import numpy as np

from ..errors import EvalkitError, MissingWeightsError
from ..registry import FEATURES
from ..video import Video
from .frames import is_cuda, to_device
from .precision import check_precision, compute_scope
from .tracking import FlowBackend

# model -> (torchvision builder, weights enum, entry, file name from the enum's url)
_MODELS = {
    "large": ("raft_large", "Raft_Large_Weights", "C_T_V1", "raft_large_C_T_V1-22a6c225.pth"),
    "small": ("raft_small", "Raft_Small_Weights", "C_T_V2", "raft_small_C_T_V2-01064c6d.pth"),
}


def pad_to_multiple(x, multiple: int = 8):
    """Replicate-pad (B, C, H, W) to multiples of ``multiple``, split as RAFT's InputPadder
    does for Sintel (half on each side, the extra pixel at the bottom/right).
    Returns the padded tensor and (top, bottom, left, right)."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    pads = (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
    if ph or pw:
        x = F.pad(x, (pads[2], pads[3], pads[0], pads[1]), mode="replicate")
    return x, pads


@FEATURES.register("raft")
class RAFTFlow(FlowBackend):
    defaults = {"model": "large", "iters": 20, "batch_size": 8}
    choices = {"model": tuple(_MODELS)}
    weights_id = "torchvision:Raft_Large_Weights.C_T_V1:raft_large_C_T_V1-22a6c225.pth"
    takes_device_frames = True

    def __init__(self, device: str = "cpu", dtype: str = "float32", **options) -> None:
        super().__init__(device=device, dtype=check_precision(dtype, "raft"), **options)
        from ..compat import ensure_torchvision
        ensure_torchvision()
        import torch
        from torchvision.models import optical_flow

        builder, enum_name, entry, filename = _MODELS[self.options["model"]]
        self.weights_id = f"torchvision:{enum_name}.{entry}:{filename}"  # the model option picks it
        state = torch.load(self._weights_file(optical_flow, enum_name, entry, filename),
                           map_location="cpu", weights_only=True)
        model = getattr(optical_flow, builder)(weights=None)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise EvalkitError(f"{filename}: not a torchvision {builder} state dict ({str(exc).splitlines()[0]})") from None
        self.model = model.eval().to(device)
        self._torch = torch

    @staticmethod
    def _weights_file(optical_flow, enum_name: str, entry: str, filename: str):
        from ..weights import download_allowed, resolve_checkpoint, torch_home

        url = getattr(getattr(optical_flow, enum_name), entry).url
        try:
            return resolve_checkpoint(filename, model=f"RAFT ({enum_name}.{entry})", url=url)
        except MissingWeightsError:
            if not download_allowed():
                raise
            import torch
            torch.hub.load_state_dict_from_url(url, model_dir=str(torch_home() / "hub" / "checkpoints"),
                                               map_location="cpu")
            return resolve_checkpoint(filename, model=f"RAFT ({enum_name}.{entry})", url=url)

    def flow(self, video: Video, frames=None) -> np.ndarray:
        """Flow of each consecutive pair; ``frames``: the video's uint8 frames already on the
        device (FeatureContext.device_frames), else ``video.frames`` are uploaded here."""
        torch = self._torch
        frames = to_device(video.frames if frames is None else frames, self.device)  # uint8 (T, H, W, 3)
        h, w = video.size
        pairs = video.num_frames - 1
        cuda = is_cuda(self.device)
        # results land in pinned host memory asynchronously: no synchronisation per batch
        out = torch.empty((pairs, h, w, 2), dtype=torch.float32, pin_memory=cuda)
        bs = max(1, int(self.options["batch_size"]))
        with torch.inference_mode(), compute_scope(self.dtype, self.device, autocast=True):
            for s in range(0, pairs, bs):
                e = min(s + bs, pairs)
                x = frames[s:e + 1].permute(0, 3, 1, 2).float()
                x = x / 127.5 - 1.0  # RAFT's input range [-1, 1] (2·x/255 − 1)
                x, (t, b, l, r) = pad_to_multiple(x, 8)
                flows = self.model(x[:-1].contiguous(), x[1:].contiguous(),
                                   num_flow_updates=int(self.options["iters"]))[-1]
                flows = flows[..., t:t + h, l:l + w]
                out[s:e].copy_(flows.float().permute(0, 2, 3, 1), non_blocking=cuda)
        if cuda:
            torch.cuda.current_stream(torch.device(self.device)).synchronize()
        return out.numpy()
