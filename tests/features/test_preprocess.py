"""Preprocessing presets: output geometry per reference, exact normalisation, and equality
with the reference's own transforms fed what the reference feeds them (VBench: float32
tensors; OpenAI CLIP: PIL images)."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

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


def edge_frames(n=2, h=120, w=200):
    """Hard black/white edges: bicubic overshoots them (values below 0 and above 255)."""
    x = np.zeros((n, h, w, 3), np.uint8)
    x[:, :, w // 3:2 * w // 3] = 255
    x[:, h // 2:, :, 1] = 255 - x[:, h // 2:, :, 1]
    return x


def vbench_input(x):
    """What VBench's transforms receive: ``torch.Tensor(frames).permute(0, 3, 1, 2)`` of
    ``load_video`` (vbench/utils.py @ 45e79ec), a float32 tensor holding 0..255."""
    import torch

    return torch.Tensor(x).permute(0, 3, 1, 2)


def test_vbench_presets_equal_torchvision_on_vbench_float_frames():
    import torch

    from evalkit.compat import ensure_torchvision

    T = ensure_torchvision().transforms
    x = edge_frames()
    assert vbench_input(x).dtype == torch.float32
    # VBench dino_transform: Resize(224, antialias=False), /255, ImageNet Normalize
    ref = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(T.Resize(224, antialias=False)(vbench_input(x)) / 255.0)
    np.testing.assert_allclose(PRESETS["vbench-dino"](x).numpy(), ref.numpy(), rtol=0, atol=2e-6)
    # VBench clip_transform: Resize(224, bicubic, antialias=False), CenterCrop(224), /255, CLIP Normalize
    resized = T.Resize(224, interpolation=T.InterpolationMode.BICUBIC, antialias=False)(vbench_input(x))
    assert resized.min() < -1 and resized.max() > 256  # the overshoot VBench keeps
    ref = T.Normalize(CLIP_MEAN, CLIP_STD)(T.CenterCrop(224)(resized) / 255.0)
    ours = PRESETS["vbench-clip"](x).numpy()
    np.testing.assert_allclose(ours, ref.numpy(), rtol=0, atol=2e-6)
    lowest = min((0 - m) / s for m, s in zip(CLIP_MEAN, CLIP_STD))
    assert ours.min() < lowest - 0.01  # not clamped to the uint8 range


def test_pil_presets_equal_openai_clip_preprocess_on_pil_images():
    import torch
    from PIL import Image

    from evalkit.compat import ensure_torchvision

    T = ensure_torchvision().transforms
    x = np.concatenate([edge_frames(1, 120, 200), frames(1, 120, 200)])
    # OpenAI CLIP clip.py _transform(224): Resize(224, BICUBIC) and CenterCrop on the PIL image
    openai = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                        T.ToTensor(), T.Normalize(CLIP_MEAN, CLIP_STD)])
    ref = torch.stack([openai(Image.fromarray(f)) for f in x])
    np.testing.assert_allclose(PRESETS["clip"](x).numpy(), ref.numpy(), rtol=0, atol=2e-6)
    dreambooth = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                            T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    ref = torch.stack([dreambooth(Image.fromarray(f)) for f in x])
    np.testing.assert_allclose(PRESETS["dreambooth-dino"](x).numpy(), ref.numpy(), rtol=0, atol=2e-6)


def test_centre_crop_takes_the_middle():
    x = np.zeros((1, 256, 400, 3), np.uint8)
    x[:, :, 200:] = 255  # right half white: the centre crop straddles the edge symmetrically
    out = PRESETS["dreambooth-dino"](x).numpy()[0, 0]
    left, right = out[:, :100].mean(), out[:, -100:].mean()
    assert left < 0 < right and out.shape == (224, 224)


def test_aspect_keeping_preset_refuses_to_batch_mixed_sizes():
    with pytest.raises(ValueError, match="aspect"):
        PRESETS["vbench-dino"].batch([frames(1)[0], frames(1, 64, 64)[0]])
