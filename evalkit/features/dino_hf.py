"""``dino-vitb16-hf``: DINO ViT-B/16 exactly as transformers serves it, for MTBench's temporal
consistency (Shi-qingyu/DeT ``evaluation.py`` @ 2a2f4dd ``calculate_dino``): ``ViTModel.from_pretrained``
and ``ViTImageProcessor.from_pretrained("facebook/dino-vitb16")``, the feature being the
L2-normalised ``pooler_output``. Unlike ``dino-vitb16`` (DINO v1's own arithmetic), nothing is
corrected: the hub config's LayerNorm eps, transformers' ViT, and its pooler (dense + tanh on
the CLS token).

- Preprocessing: transformers 4.x ``ViTImageProcessor`` (the release asks for ``>=4.40``): PIL
  bilinear resize to 224×224 ignoring the aspect ratio, /255, the mean/std of the snapshot's
  ``preprocessor_config.json`` (``ViTImageProcessor``'s defaults, 0.5, where it gives none).
- The pooler: transformers' DINO conversion saves ``ViTModel(add_pooling_layer=False)``, so a
  checkpoint without ``pooler.dense`` weights makes ``from_pretrained`` initialise them at random,
  unseeded, in every run of the release (its score then changes from run to run). evalkit draws
  them from ``pooler_seed`` as transformers initialises them (truncated normal with the config's
  ``initializer_range``, bias 0) and says so (``pooler_source``); a checkpoint that has them is used.
"""
from __future__ import annotations

import json
from typing import Any

from ..registry import FEATURES
from ..weights import resolve_hf
from .embedding import FrameEmbedder
from .preprocess import Preprocess

VIT_PROCESSOR_DEFAULT_MEAN_STD = (0.5, 0.5, 0.5)  # transformers IMAGENET_STANDARD_MEAN / _STD
POOLER_KEYS = ("pooler.dense.weight", "pooler.dense.bias")


def vit_processor_preprocess(folder) -> Preprocess:
    """transformers 4.x ViTImageProcessor of a snapshot folder as an evalkit preset."""
    config = folder / "preprocessor_config.json"
    data = json.loads(config.read_text()) if config.is_file() else {}
    size = data.get("size", 224)
    side = size.get("height", 224) if isinstance(size, dict) else int(size)
    resample = {2: "bilinear", 3: "bicubic"}[int(data.get("resample", 2))]
    mean = tuple(data.get("image_mean", VIT_PROCESSOR_DEFAULT_MEAN_STD))
    std = tuple(data.get("image_std", VIT_PROCESSOR_DEFAULT_MEAN_STD))
    return Preprocess("hf-vit", side, resample, True, None, mean, std, square=True, resampler="pil")


@FEATURES.register("dino-vitb16-hf")
class DinoViTB16HF(FrameEmbedder):
    weights_id = "facebook/dino-vitb16"
    defaults = {"pooler_seed": 0}

    def __init__(self, device: str = "cpu", dtype: str = "float32", batch_size: int | None = None,
                 **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, batch_size=batch_size, **options)
        import torch

        from .hf_loading import load_pretrained

        folder = resolve_hf(self.weights_id)
        self.preprocess = vit_processor_preprocess(folder)
        self.model = load_pretrained("ViTModel", self.weights_id, device, dtype)  # with its pooler
        self.pooler_source = "checkpoint"
        if not self._checkpoint_has_pooler(folder):
            generator = torch.Generator().manual_seed(int(self.options["pooler_seed"]))
            dense = self.model.pooler.dense
            weight = torch.empty(dense.weight.shape, dtype=torch.float32)
            torch.nn.init.trunc_normal_(weight, std=self.model.config.initializer_range, generator=generator)
            with torch.no_grad():
                dense.weight.copy_(weight)
                dense.bias.zero_()
            self.pooler_source = ("random (no pooler weights in the checkpoint; drawn from "
                                  f"pooler_seed={self.options['pooler_seed']})")

    @staticmethod
    def _checkpoint_has_pooler(folder) -> bool:
        from safetensors import safe_open

        files = sorted(folder.glob("*.safetensors"))
        if files:
            keys = set()
            for f in files:
                with safe_open(str(f), "pt") as fh:
                    keys.update(fh.keys())
        else:
            import torch
            keys = set().union(*(torch.load(f, map_location="cpu", weights_only=True).keys()
                                 for f in folder.glob("pytorch_model*.bin")))
        return all(k in keys or f"vit.{k}" in keys for k in POOLER_KEYS)

    def forward_unit(self, pixels):
        import torch

        pooled = self.model(pixel_values=pixels).pooler_output
        return torch.nn.functional.normalize(pooled.float(), dim=-1)
