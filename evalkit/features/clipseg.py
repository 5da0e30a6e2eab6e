"""CLIPSeg (``CIDAS/clipseg-rd64-refined``): text-prompted subject saliency per frame.

Returns ``sigmoid(logits)`` at the model's 352×352 resolution; thresholding (Otsu) and
upsampling to the frame size are evalkit.features.masking's job. transformers 4.46.0
broke CLIPSeg; pyproject excludes it and the loading test runs the real class.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import FEATURES
from .base import FeatureBackend
from .frames import is_cuda, to_device
from .hf_loading import load_clip_tokenizer, load_pretrained, tokenize
from .precision import check_precision, compute_scope, weights_dtype
from .preprocess import PRESETS


@FEATURES.register("clipseg-rd64")
class ClipSegBackend(FeatureBackend):
    weights_id = "CIDAS/clipseg-rd64-refined"
    defaults = {"preprocess": "clipseg"}
    choices = {"preprocess": ("clipseg",)}

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int | None = None,
                 **options: Any) -> None:
        super().__init__(device=device, dtype=check_precision(dtype, "clipseg-rd64"), **options)
        self.batch_size = max(1, int(batch_size or (64 if is_cuda(device) else 16)))
        self.preprocess = PRESETS[self.options["preprocess"]]
        self.model = load_pretrained("CLIPSegForImageSegmentation", self.weights_id, device, dtype)
        self.tokenizer = load_clip_tokenizer(self.weights_id)

    def saliency(self, frames, text: str) -> np.ndarray:
        """uint8 (N, H, W, 3) frames (host array or device tensor) + subject text ->
        (N, 352, 352) float32 in [0, 1]."""
        import torch

        ids, mask = tokenize(self.tokenizer, [text], self.device)
        frames = to_device(frames, self.device)  # uploaded once, preprocessed on the device
        out = []
        with torch.inference_mode(), compute_scope(self.dtype, self.device):
            # the text embedding is the same for every frame: compute it once
            cond = self.model.get_conditional_embeddings(batch_size=1, input_ids=ids, attention_mask=mask)
            for i in range(0, len(frames), self.batch_size):
                x = self.preprocess(frames[i:i + self.batch_size], self.device, weights_dtype(self.dtype))
                logits = self.model(pixel_values=x, conditional_embeddings=cond.expand(len(x), -1)).logits
                out.append(torch.sigmoid(logits.float().reshape(len(x), *logits.shape[-2:])))
            return torch.cat(out).cpu().numpy()  # one copy back: no synchronisation per batch
