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
from .hf_loading import DTYPES, load_clip_tokenizer, load_pretrained, tokenize, torch_dtype
from .preprocess import PRESETS


@FEATURES.register("clipseg-rd64")
class ClipSegBackend(FeatureBackend):
    weights_id = "CIDAS/clipseg-rd64-refined"
    defaults = {"preprocess": "clipseg"}
    choices = {"preprocess": ("clipseg",)}

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int = 32, **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, **options)
        if dtype not in DTYPES:
            raise ValueError(f"{self.registry_name}: dtype {dtype!r} not in {DTYPES}")
        self.batch_size = batch_size
        self.preprocess = PRESETS[self.options["preprocess"]]
        self.model = load_pretrained("CLIPSegForImageSegmentation", self.weights_id, device, dtype)
        self.tokenizer = load_clip_tokenizer(self.weights_id)

    def saliency(self, frames: np.ndarray, text: str) -> np.ndarray:
        """uint8 (N, H, W, 3) frames + subject text -> (N, 352, 352) float32 in [0, 1]."""
        import torch

        ids, mask = tokenize(self.tokenizer, [text], self.device)
        out = []
        with torch.inference_mode():
            # the text embedding is the same for every frame: compute it once
            cond = self.model.get_conditional_embeddings(batch_size=1, input_ids=ids, attention_mask=mask)
            for i in range(0, len(frames), self.batch_size):
                x = self.preprocess(frames[i:i + self.batch_size], self.device, torch_dtype(self.dtype))
                logits = self.model(pixel_values=x, conditional_embeddings=cond.expand(len(x), -1)).logits
                out.append(torch.sigmoid(logits.float().reshape(len(x), *logits.shape[-2:])).cpu())
        return torch.cat(out).numpy()
