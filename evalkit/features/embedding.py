"""Frame embedders (DINO, the CLIP image tower): uint8 frames -> unit vectors, many videos per pass.

``embed_videos`` packs the frames of several clips into forward passes of ``batch_size``
frames (a clip may span two passes; clips whose preprocessed size differs never share one),
preprocesses on the device from uint8, and keeps every result on the device until one copy
back at the end: no synchronisation per batch, so the GPU is fed back to back. Which frames
share a pass changes an embedding only by kernel rounding (tested against one clip at a time).
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from .base import FeatureBackend
from .frames import is_cuda, uploaded
from .precision import check_precision, compute_scope, weights_dtype
from .preprocess import Preprocess

GPU_BATCH, CPU_BATCH = 256, 32


class FrameEmbedder(FeatureBackend):
    preprocess: Preprocess

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int | None = None,
                 **options: Any) -> None:
        super().__init__(device=device, dtype=check_precision(dtype, self.registry_name), **options)
        # frames per forward pass: large on a GPU (utilisation), small on a CPU (memory); it does
        # not change the numbers, so it is not an option
        self.batch_size = max(1, int(batch_size or (GPU_BATCH if is_cuda(device) else CPU_BATCH)))

    @property
    def input_dtype(self):
        """The torch dtype of the pixel values fed to the model."""
        return weights_dtype(self.dtype)

    @property
    def takes_device_frames(self) -> bool:
        """Tensor preprocessing reads frames already on the device; PIL needs host arrays."""
        return self.preprocess.resampler == "tensor"

    def forward_unit(self, pixels):
        """(N, 3, h, w) preprocessed pixels -> (N, D) float32 unit vectors, on the device."""
        raise NotImplementedError

    def embed(self, frames) -> np.ndarray:
        """uint8 (N, H, W, 3) frames (host array or device tensor) -> (N, D) float32 unit vectors."""
        return self.embed_videos([frames])[0]

    def embed_videos(self, clips: Sequence) -> list[np.ndarray]:
        """Each clip's uint8 (T_i, H_i, W_i, 3) frames -> its (T_i, D) float32 unit vectors."""
        import torch

        out: list[Any] = [None] * len(clips)
        with torch.inference_mode(), compute_scope(self.dtype, self.device):
            for members in self._size_groups(clips).values():
                feats = torch.cat([self.forward_unit(x) for x in self._pixel_batches([clips[i] for i in members])])
                feats = feats.cpu().numpy()
                start = 0
                for i in members:
                    out[i] = feats[start:start + len(clips[i])]
                    start += len(clips[i])
        return out

    def _size_groups(self, clips: Sequence) -> dict[tuple, list[int]]:
        groups: dict[tuple, list[int]] = {}
        for i, clip in enumerate(clips):
            groups.setdefault(self.preprocess.output_size(clip.shape[1], clip.shape[2]), []).append(i)
        return groups

    def _pixel_batches(self, clips: Sequence) -> Iterator:
        """Preprocessed (≤ batch_size, 3, h, w) batches over the frames of ``clips`` in order."""
        import torch

        pending, count = [], 0
        for clip in (uploaded(clips, self.device) if self.takes_device_frames else clips):
            start = 0
            while start < len(clip):
                take = min(self.batch_size - count, len(clip) - start)
                pending.append(self.preprocess(clip[start:start + take], self.device, self.input_dtype))
                start, count = start + take, count + take
                if count == self.batch_size:
                    yield torch.cat(pending) if len(pending) > 1 else pending[0]
                    pending, count = [], 0
        if pending:
            yield torch.cat(pending) if len(pending) > 1 else pending[0]
