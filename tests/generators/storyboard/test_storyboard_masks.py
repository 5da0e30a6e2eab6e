"""Subject masks of Video Storyboarding: from a known x̂0 they equal Otsu on CLIPSeg's sigmoid of the
decoded frames (tiny random CLIPSeg of the real class, tiny U-Net VAE), and the x̂0 the denoising
hook reconstructs from a pipeline's latents is that x̂0."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.features.base import load_backend  # noqa: E402
from evalkit.features.masking import otsu_mask  # noqa: E402
from evalkit.generators.methods.storyboard.subject_masks import SubjectMasks, downsample  # noqa: E402
from evalkit.generators.x0 import X0Hook, decode_frames  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402


@pytest.fixture(scope="module")
def tiny_clipseg(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["CIDAS/clipseg-rd64-refined"])


@pytest.fixture
def segmenter(tiny_clipseg):
    return load_backend("clipseg-rd64")   # loaded by hub id from the test session's HF cache


@pytest.fixture(scope="module")
def family(tiny_dirs):
    gen = GENERATORS.get("vanilla")(backbone="zeroscope", model_path=tiny_dirs("unet"), height=32, width=32)
    gen.load()
    return gen.family


def known_x0(family):
    frames = np.stack([tp.moving_square(4), 255 - tp.moving_square(4)])          # two shots
    return torch.cat([family.encode_video(f, 8.0).tensor for f in frames])      # [2, C, F, h, w]


def test_masks_of_a_known_x0_are_otsu_on_clipseg_sigmoid(segmenter, family):
    x0 = known_x0(family)
    masks = SubjectMasks(segmenter, "a red square", lambda z: decode_frames(family, z))
    masks.update(7, x0)
    frames = decode_frames(family, x0)
    assert frames.shape == (2, 4, 32, 32, 3) and frames.dtype == np.uint8
    saliency = segmenter.saliency(frames.reshape(-1, 32, 32, 3), "a red square")
    expected = np.stack([otsu_mask(s, (32, 32))[0] for s in saliency]).reshape(2, 4, 32, 32)
    assert np.array_equal(masks.pixel[7], expected) and 0 < expected.mean() < 1
    tokens = masks.tokens(7, 4, 16, "cpu")                                       # a 4×4 attention grid
    assert tokens.dtype == torch.bool and np.array_equal(tokens.numpy(), downsample(expected, 4, 16))
    assert masks.tokens(8, 4, 16, "cpu") is None and masks.empty_frames == 0


def test_the_denoising_hook_feeds_the_masks_the_x0_of_its_step(segmenter, family):
    """x_t built from a known x0 and the guided noise: the hook's x̂0 gives that x0's masks."""
    x0 = known_x0(family)
    sched = family.schedule(5)
    t = int(sched.timesteps[1])
    g = torch.Generator().manual_seed(0)
    eps_u, eps_c = torch.randn(x0.shape, generator=g), torch.randn(x0.shape, generator=g)
    a = sched.alphas_cumprod[t]
    xt = a.sqrt() * x0 + (1 - a).sqrt() * (eps_u + 9.0 * (eps_c - eps_u))

    class Denoiser(torch.nn.Module):
        def forward(self, sample, timestep):
            return (torch.cat([eps_u, eps_c]),)

    masks = SubjectMasks(segmenter, "a red square", lambda z: decode_frames(family, z))
    reference = SubjectMasks(segmenter, "a red square", lambda z: decode_frames(family, z))
    reference.update(0, x0)
    model, seen = Denoiser(), {}

    def feed(step, z):
        seen[step] = z
        masks.update(step, z)

    with X0Hook(model, sched, "batched", 9.0, feed, step=lambda: 0):
        model(torch.cat([xt, xt]), torch.tensor([t]))
    assert list(seen) == [0] and torch.allclose(seen[0], x0, atol=1e-4)    # the step's x̂0 is x0 (float error)
    # x̂0 is x0 up to float rounding (≈ 4e-6 here): a decoded pixel may round to the next uint8 level,
    # which can move a pixel at Otsu's threshold; the masks agree everywhere else
    assert (masks.pixel[0] != reference.pixel[0]).mean() < 1e-3


def test_a_frame_without_subject_is_an_empty_mask_with_its_reason(segmenter, family, monkeypatch):
    original = type(segmenter).saliency

    def saliency(self, frames, text):
        out = original(self, frames, text)
        out[1] = 0.5                                  # frame 1 of shot 0: a constant map
        return out

    monkeypatch.setattr(type(segmenter), "saliency", saliency)
    masks = SubjectMasks(segmenter, "a red square", lambda z: decode_frames(family, z))
    masks.update(0, known_x0(family))
    assert not masks.pixel[0][0, 1].any() and masks.empty_frames == 1
    assert masks.first_empty_reason.startswith("shot 0 frame 1: saliency map is constant")
