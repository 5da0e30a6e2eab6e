"""Image preprocessing of the feature backends (no downloaded processor configs).

Each reference preprocesses differently, and the numbers depend on it, so a backend's
preprocessing is a named ``Preprocess`` that enters its identity (and every feature cache key):

- ``vbench-dino`` (VBench subject consistency): short side 224, bilinear, no antialias, no crop
- ``dreambooth-dino`` (DINO-I): short side 256, bicubic, centre crop 224, on PIL images
- ``clip`` (OpenAI CLIP ``_transform``): short side 224, bicubic, centre crop 224, on PIL images
- ``vbench-clip`` (VBench background consistency, aesthetics): as ``clip`` on float tensors, no antialias
- ``clipseg`` (CLIPSeg's ViTImageProcessor): 352×352 ignoring the aspect ratio, bilinear

Two resamplers, as the references resize:

- ``tensor``: ``F.interpolate`` on float32 frames holding 0–255, no rounding, no clamping.
  VBench's ``load_video`` returns ``torch.Tensor(frames)`` (float32, though its comment says
  uint8), so torchvision's ``Resize`` runs on floats and keeps the bicubic overshoot
  (values below 0 and above 255) into the normalisation.
- ``pil``: PIL's own ``Image.resize`` on the uint8 frame (antialiased; the result is rounded
  and clamped to uint8 by PIL), then torchvision ``CenterCrop``'s offsets and ``ToTensor``'s
  /255: what OpenAI CLIP's ``preprocess`` does to ``Image.fromarray(frame)``.

All scale by 1/255 then normalise (ImageNet mean/std unless noted); the full table with
references is in docs/metrics/identity.md and docs/metrics/fidelity.md.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# OpenAI CLIP normalisation constants (clip/clip.py `_transform`)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RESAMPLERS = ("tensor", "pil")


@dataclass(frozen=True)
class Preprocess:
    name: str
    size: int                    # target of the short side (or both sides when ``square``)
    interpolation: str           # "bilinear" | "bicubic"
    antialias: bool              # tensor resampler only: PIL always antialiases
    crop: int | None             # centre crop side, or None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    square: bool = False         # resize to size×size, ignoring the aspect ratio
    resampler: str = "tensor"    # "tensor" (float32 F.interpolate) | "pil" (PIL on uint8)

    def __post_init__(self) -> None:
        if self.resampler not in RESAMPLERS:
            raise ValueError(f"preprocess {self.name!r}: resampler {self.resampler!r} not in {RESAMPLERS}")

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        if self.square:
            return self.size, self.size
        if height <= width:  # torchvision Resize(int): short side -> size, long side truncated
            return self.size, int(self.size * width / height)
        return int(self.size * height / width), self.size

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return (self.crop, self.crop) if self.crop else self.resized_size(height, width)

    def __call__(self, frames, device: str = "cpu", dtype=None):
        """uint8 (N, H, W, 3) numpy/tensor -> normalised float (N, 3, h, w) on ``device``."""
        import torch

        x = self._resize_pil(frames) if self.resampler == "pil" else self._resize_tensor(frames, device)
        h, w = x.shape[-2:]
        if self.crop:
            top = int(round((h - self.crop) / 2.0))  # torchvision CenterCrop's rounding
            left = int(round((w - self.crop) / 2.0))
            x = x[:, :, top:top + self.crop, left:left + self.crop]
        x = x.to(device)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        x = (x / 255.0 - mean) / std
        return x if dtype is None else x.to(dtype)

    def _resize_tensor(self, frames, device: str):
        import torch
        import torch.nn.functional as F

        if not isinstance(frames, torch.Tensor):
            frames = np.ascontiguousarray(frames)
            with warnings.catch_warnings():  # read-only frames are fine: never written in place
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                frames = torch.from_numpy(frames)
        x = frames.to(device).permute(0, 3, 1, 2).float()
        height, width = x.shape[-2:]
        h, w = self.resized_size(height, width)
        if (h, w) != (height, width):  # float in, float out: no rounding, no clamping
            x = F.interpolate(x, size=(h, w), mode=self.interpolation, align_corners=False,
                              antialias=self.antialias)
        return x

    def _resize_pil(self, frames):
        import torch
        from PIL import Image

        resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[self.interpolation]
        frames = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        out = []
        for frame in frames:
            height, width = frame.shape[:2]
            h, w = self.resized_size(height, width)
            image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
            if (h, w) != (height, width):
                image = image.resize((w, h), resample=resample)
            out.append(np.asarray(image))
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float()

    def batch(self, images: Sequence[np.ndarray], device: str = "cpu", dtype=None):
        """Images of different sizes -> one batch (needs a crop or ``square``)."""
        import torch

        if not (self.crop or self.square):
            raise ValueError(f"preprocess {self.name!r} keeps the aspect ratio: "
                             "images of different sizes cannot be batched")
        return torch.cat([self(im[None], device, dtype) for im in images])


PRESETS: dict[str, Preprocess] = {p.name: p for p in (
    # VBench utils.dino_transform: Resize(224, antialias=False) on load_video's float32 tensor, /255, ImageNet
    Preprocess("vbench-dino", 224, "bilinear", False, None, IMAGENET_MEAN, IMAGENET_STD),
    # DreamBooth DINO-I: Resize(256, bicubic), CenterCrop(224), ToTensor (a PIL pipeline), ImageNet
    Preprocess("dreambooth-dino", 256, "bicubic", True, 224, IMAGENET_MEAN, IMAGENET_STD, resampler="pil"),
    # OpenAI CLIP clip.py _transform: Resize(224, bicubic) on PIL, CenterCrop(224), ToTensor, CLIP mean/std
    Preprocess("clip", 224, "bicubic", True, 224, CLIP_MEAN, CLIP_STD, resampler="pil"),
    # VBench utils.clip_transform: Resize(224, bicubic, antialias=False) on float32, CenterCrop, CLIP norm
    Preprocess("vbench-clip", 224, "bicubic", False, 224, CLIP_MEAN, CLIP_STD),
    # CLIPSeg's ViTImageProcessor: resize to 352×352 bilinear, rescale 1/255, ImageNet mean/std
    Preprocess("clipseg", 352, "bilinear", True, None, IMAGENET_MEAN, IMAGENET_STD, square=True),
)}
