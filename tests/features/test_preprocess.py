"""Preprocessing presets: output geometry per reference, exact normalisation, and agreement
with torchvision's transforms where the reference used them."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.features.preprocess import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, PRESETS


def frames(n=2, h=128, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name, size, out", [
    ("vbench-dino", (128, 160), (224, 280)),    # short side 224, no crop
    ("vbench-dino", (480, 854), (224, 398)),    # DAVIS 480p: long side truncated like torchvision
    ("vbench-dino", (160, 128), (280, 224)),
    ("dreambooth-dino", (128, 160), (224, 224)),
    ("clip", (480, 854), (224, 224)),
    ("vbench-clip", (128, 160), (224, 224)),
    ("clipseg", (480, 854), (352, 352)),        # square resize, aspect not kept
])
def test_output_geometry(name, size, out):
    x = PRESETS[name](frames(1, *size))
    assert tuple(x.shape) == (1, 3, *out) and PRESETS[name].output_size(*size) == out


@pytest.mark.parametrize("name, mean, std", [("vbench-dino", IMAGENET_MEAN, IMAGENET_STD),
                                              ("clip", CLIP_MEAN, CLIP_STD)])
def test_uniform_frame_normalises_exactly(name, mean, std):
    x = PRESETS[name](np.full((1, 50, 70, 3), 200, np.uint8)).numpy()
    for c in range(3):
        np.testing.assert_allclose(x[0, c], (200 / 255 - mean[c]) / std[c], atol=1e-5)


def test_vbench_presets_match_torchvision_on_uint8_tensors():
    import torch
    from evalkit.compat import ensure_torchvision

    tvf = ensure_torchvision().transforms.functional
    x = frames(2, 120, 200)
    t = torch.from_numpy(x).permute(0, 3, 1, 2)  # uint8, as VBench reads videos
    # VBench dino_transform: Resize(224, antialias=False) on uint8, then /255 and ImageNet norm
    ref = tvf.normalize(tvf.resize(t, 224, antialias=False).float() / 255, IMAGENET_MEAN, IMAGENET_STD)
    np.testing.assert_allclose(PRESETS["vbench-dino"](x).numpy(), ref.numpy(), atol=0.02)
    # VBench clip_transform: bicubic Resize(224, antialias=False), CenterCrop(224), /255, CLIP norm
    r = tvf.resize(t, 224, interpolation=tvf.InterpolationMode.BICUBIC, antialias=False)
    ref = tvf.normalize(tvf.center_crop(r, 224).float() / 255, CLIP_MEAN, CLIP_STD)
    np.testing.assert_allclose(PRESETS["vbench-clip"](x).numpy(), ref.numpy(), atol=0.02)


def test_centre_crop_takes_the_middle():
    x = np.zeros((1, 256, 400, 3), np.uint8)
    x[:, :, 200:] = 255  # right half white: the centre crop straddles the edge symmetrically
    out = PRESETS["dreambooth-dino"](x).numpy()[0, 0]
    left, right = out[:, :100].mean(), out[:, -100:].mean()
    assert left < 0 < right and out.shape == (224, 224)


def test_aspect_keeping_preset_refuses_to_batch_mixed_sizes():
    with pytest.raises(ValueError, match="aspect"):
        PRESETS["vbench-dino"].batch([frames(1)[0], frames(1, 64, 64)[0]])
