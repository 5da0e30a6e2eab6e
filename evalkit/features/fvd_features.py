"""Video-level features for FVD through ``cd-fvd`` (Ge et al. 2024, "On the Content Bias in
Fréchet Video Distance", songweige/content-debiased-fvd; PyPI ``cd-fvd`` 0.1.1).

- ``i3d-fvd``: I3D (``InceptionI3d(400)``, ``i3d_pretrained_400.pt``, the StyleGAN-V / TATS FVD
  network): frames resized bilinearly to 224×224, scaled to [−1, 1]; the feature is the
  400 logits averaged over time (cd-fvd ``preprocess_i3d``, ``get_i3d_logits``).
- ``videomae-fvd``: VideoMAE-v2 ViT-g/14 fine-tuned on SSv2 (``vit_g_hybrid_pt_1200e_ssv2_ft.pth``):
  frames /255 resized bilinearly to 224×224 (no normalisation); the feature is
  ``forward_features``, the 1408-d mean-pooled token (cd-fvd ``preprocess_videomae``,
  ``get_videomae_features``). The content-debiased choice of the paper.

The networks, preprocessing and forward passes are cd-fvd's own functions; evalkit resolves the
checkpoints offline (evalkit.weights: ``$EVALKIT_WEIGHTS_DIR`` or ``$TORCH_HOME/hub/checkpoints``)
and hands cd-fvd the path, so its downloader never runs.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from ..errors import MissingDependencyError, MissingWeightsError
from ..registry import FEATURES
from ..video import Video
from .base import FeatureBackend


def import_cdfvd():
    """cd-fvd's I3D and VideoMAE modules (torchvision made importable first)."""
    from ..compat import ensure_torchvision

    ensure_torchvision()
    try:
        from cdfvd.third_party.i3d import utils as i3d
        from cdfvd.third_party.VideoMAEv2 import utils as videomae
    except ImportError as exc:
        raise MissingDependencyError(
            f"the fvd metric needs cd-fvd ({exc}); pip install 'cd-fvd==0.1.1' einops") from None
    return i3d, videomae


class FvdFeatures(FeatureBackend):
    """One feature vector per video (float64, as cd-fvd's FeatureStats accumulates)."""
    checkpoint: ClassVar[str]
    url: ClassVar[str]
    model_name: ClassVar[str]
    defaults: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.weights_id = f"torch.hub:cd-fvd:{cls.checkpoint}"  # a file under TORCH_HOME/hub/checkpoints

    def __init__(self, device: str = "cpu", dtype: str = "float32", **options: Any) -> None:
        super().__init__(device=device, dtype=dtype, **options)
        import torch

        from ..weights import resolve_checkpoint

        self._torch = torch
        modules = import_cdfvd()
        path = resolve_checkpoint(self.checkpoint, model=f"{self.model_name} (cd-fvd)", url=self.url)
        try:
            self.model = self.load(modules, torch.device(device), str(path)).eval()
        except (RuntimeError, KeyError) as exc:  # a wrong or truncated file
            raise MissingWeightsError(f"{path}: not a {self.model_name} checkpoint cd-fvd can load ({exc})") from None

    def load(self, modules, device, path: str):
        raise NotImplementedError

    def forward(self, modules, frames: np.ndarray):
        """(1, T, H, W, 3) uint8 → (1, D) features."""
        raise NotImplementedError

    def features(self, videos: Sequence[Video], frames: int) -> list[np.ndarray]:
        """The feature of the first ``frames`` frames of each video."""
        modules = import_cdfvd()
        out = []
        with self._torch.no_grad():
            for video in videos:
                clip = np.array(video.frames[:frames])[None]  # a writable copy: cd-fvd wraps it in a tensor
                out.append(self.forward(modules, clip).double().cpu().numpy()[0])
        return out


@FEATURES.register("i3d-fvd")
class I3DFvd(FvdFeatures):
    checkpoint = "i3d_pretrained_400.pt"
    url = "https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt"
    model_name = "I3D"

    def load(self, modules, device, path):
        return modules[0].load_i3d_model(device, path)

    def forward(self, modules, frames):
        return self.model(modules[0].preprocess_i3d(frames).to(self.device))


@FEATURES.register("videomae-fvd")
class VideoMAEFvd(FvdFeatures):
    checkpoint = "vit_g_hybrid_pt_1200e_ssv2_ft.pth"
    url = "https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/internvideo/videomaev2/vit_g_hybrid_pt_1200e_ssv2_ft.pth"
    model_name = "VideoMAE-v2 ViT-g"

    def load(self, modules, device, path):
        return modules[1].load_videomae_model(device, path)

    def forward(self, modules, frames):
        return self.model.forward_features(modules[1].preprocess_videomae(frames).to(self.device))
