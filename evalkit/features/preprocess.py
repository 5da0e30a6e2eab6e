"""Image preprocessing of the feature backends, written in torch (no downloaded processor configs).

Each reference preprocesses differently, and the numbers depend on it, so a backend's
preprocessing is a named ``Preprocess`` that enters its identity (and every feature cache key):

- ``vbench-dino`` (VBench subject consistency): short side 224, bilinear, no antialias, no crop
- ``dreambooth-dino`` (DINO-I): short side 256, bicubic, centre crop 224
- ``clip`` (OpenAI CLIP): short side 224, bicubic, centre crop 224, CLIP mean/std
- ``vbench-clip`` (VBench background consistency, aesthetics): as ``clip`` without antialias
- ``clipseg`` (CLIPSeg's ViTImageProcessor): 352×352 ignoring the aspect ratio, bilinear

All scale by 1/255 then normalise (ImageNet mean/std unless noted); the full table with
references is in docs/metrics/identity.md.

VBench resizes uint8 tensors (torchvision rounds the result back to uint8) with
``antialias=False``; ``round_uint8`` reproduces that rounding.
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


@dataclass(frozen=True)
class Preprocess:
    name: str
    size: int                    # target of the short side (or both sides when ``square``)
    interpolation: str           # "bilinear" | "bicubic"
    antialias: bool
    crop: int | None             # centre crop side, or None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    square: bool = False         # resize to size×size, ignoring the aspect ratio
    round_uint8: bool = False    # resize happens on uint8 tensors in the reference

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
        import torch.nn.functional as F

        if not isinstance(frames, torch.Tensor):
            frames = np.ascontiguousarray(frames)
            with warnings.catch_warnings():  # read-only frames are fine: never written in place
                warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                frames = torch.from_numpy(frames)
        x = frames
        x = x.to(device).permute(0, 3, 1, 2).float()
        height, width = x.shape[-2:]
        h, w = self.resized_size(height, width)
        if (h, w) != (height, width):
            x = F.interpolate(x, size=(h, w), mode=self.interpolation, align_corners=False,
                              antialias=self.antialias)
            if self.round_uint8:
                x = x.round().clamp_(0, 255)
            elif self.interpolation == "bicubic":
                x = x.clamp_(0, 255)  # PIL clamps bicubic overshoot to the uint8 range
        if self.crop:
            top = int(round((h - self.crop) / 2.0))  # torchvision CenterCrop's rounding
            left = int(round((w - self.crop) / 2.0))
            x = x[:, :, top:top + self.crop, left:left + self.crop]
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        x = (x / 255.0 - mean) / std
        return x if dtype is None else x.to(dtype)

    def batch(self, images: Sequence[np.ndarray], device: str = "cpu", dtype=None):
        """Images of different sizes -> one batch (needs a crop or ``square``)."""
        import torch

        if not (self.crop or self.square):
            raise ValueError(f"preprocess {self.name!r} keeps the aspect ratio: "
                             "images of different sizes cannot be batched")
        return torch.cat([self(im[None], device, dtype) for im in images])


PRESETS: dict[str, Preprocess] = {p.name: p for p in (
    # VBench utils.dino_transform: Resize(224, antialias=False) on uint8 video tensors, /255, ImageNet
    Preprocess("vbench-dino", 224, "bilinear", False, None, IMAGENET_MEAN, IMAGENET_STD, round_uint8=True),
    # DreamBooth DINO-I: Resize(256, bicubic), CenterCrop(224), ToTensor, ImageNet
    Preprocess("dreambooth-dino", 256, "bicubic", True, 224, IMAGENET_MEAN, IMAGENET_STD),
    # OpenAI CLIP: Resize(224, bicubic) on PIL (antialiased), CenterCrop(224), CLIP mean/std
    Preprocess("clip", 224, "bicubic", True, 224, CLIP_MEAN, CLIP_STD),
    # VBench utils.clip_transform: Resize(224, bicubic, antialias=False) on uint8, CenterCrop, CLIP norm
    Preprocess("vbench-clip", 224, "bicubic", False, 224, CLIP_MEAN, CLIP_STD, round_uint8=True),
    # CLIPSeg's ViTImageProcessor: resize to 352×352 bilinear, rescale 1/255, ImageNet mean/std
    Preprocess("clipseg", 352, "bilinear", True, None, IMAGENET_MEAN, IMAGENET_STD, square=True),
)}
