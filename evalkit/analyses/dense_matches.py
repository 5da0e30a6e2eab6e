"""Dense nearest-neighbour matches between two images from a DINO backbone (pseudo ground truth).

V-Warper App. B.1 takes "dense image correspondences computed by DINOv3 between the generated
video frames and the reference image" as pseudo ground truth. Any transformers ViT-family
backbone whose output is ``[special tokens…, patch tokens]`` works: DINOv3
(``DINOv3ViTModel``, the paper's; default ``facebook/dinov3-vitb16-pretrain-lvd1689m``), DINOv2
(``Dinov2Model``) or DINO v1 (``ViTModel``), loaded offline-first by hub id or folder. Each image
is resized so its short side is ``short_side`` (rounded to whole patches), normalised with the
ImageNet mean/std; patch features are L2-normalised. A query point takes the bilinear sample of
the frame's feature map at its position; its match is the most cosine-similar reference patch,
returned as that patch's centre in reference pixels.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..errors import InvalidInputError

DINOV3 = "facebook/dinov3-vitb16-pretrain-lvd1689m"
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


class DenseMatcher:
    def __init__(self, model_id: str = DINOV3, device: str = "cpu", dtype: str = "float32",
                 short_side: int | None = 448) -> None:
        from ..features.hf_loading import load_pretrained

        self.model_id, self.device, self.short_side = model_id, device, short_side
        self.model = load_pretrained("AutoModel", model_id, device, dtype)
        self.patch = int(getattr(self.model.config, "patch_size", 16))
        self._kwargs = ({"interpolate_pos_encoding": True}
                        if "interpolate_pos_encoding" in inspect.signature(self.model.forward).parameters else {})

    def feature_map(self, image: np.ndarray):
        """``[rows, cols, C]`` unit-norm patch features of a uint8 ``(H, W, 3)`` image."""
        import cv2
        import torch

        if image.ndim != 3 or image.shape[-1] != 3:
            raise InvalidInputError(f"dense matches: expected an (H, W, 3) image, got {image.shape}")
        h, w = image.shape[:2]
        scale = 1.0 if not self.short_side else self.short_side / min(h, w)
        rows, cols = max(1, round(h * scale / self.patch)), max(1, round(w * scale / self.patch))
        x = cv2.resize(image, (cols * self.patch, rows * self.patch), interpolation=cv2.INTER_AREA if scale < 1
                       else cv2.INTER_CUBIC).astype(np.float32) / 255.0
        x = torch.from_numpy((x - _MEAN) / _STD).permute(2, 0, 1)[None].to(self.device, self.model.dtype)
        with torch.inference_mode():
            tokens = self.model(pixel_values=x, **self._kwargs).last_hidden_state[0, -rows * cols:]
        return torch.nn.functional.normalize(tokens.float(), dim=-1).reshape(rows, cols, -1)

    def match(self, frame: np.ndarray, reference: np.ndarray, points: np.ndarray) -> np.ndarray:
        """``(N, 2)`` reference pixel positions (x, y) matching the frame's ``points`` (N, 2) (x, y)."""
        import torch

        f, r = self.feature_map(frame), self.feature_map(reference)
        h, w = frame.shape[:2]
        pts = torch.as_tensor(np.asarray(points, np.float32), device=f.device)
        grid = torch.stack([2 * pts[:, 0] / w - 1, 2 * pts[:, 1] / h - 1], -1)[None, :, None]   # [1, N, 1, 2]
        sampled = torch.nn.functional.grid_sample(f.permute(2, 0, 1)[None], grid, mode="bilinear",
                                                  padding_mode="border", align_corners=False)[0, :, :, 0].T
        best = (torch.nn.functional.normalize(sampled, dim=-1) @ r.reshape(-1, r.shape[-1]).T).argmax(1)
        rows, cols = r.shape[:2]
        rh, rw = reference.shape[:2]
        out = torch.stack([(best % cols + 0.5) * rw / cols, (best // cols + 0.5) * rh / rows], -1)
        return out.cpu().numpy().astype(np.float64)
