"""MUSIQ backend (pyiqa architecture, SPAQ checkpoint file): loads a checkpoint from TORCH_HOME
without any download, scores like pyiqa's MUSIQ called frame by frame as VBench does, applies
VBench's resize rule, and fails fast and clearly without the checkpoint."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.errors import MissingDependencyError, MissingWeightsError
from evalkit.features.musiq import (
    CHECKPOINT,
    install_random_musiq,
    vbench_resized_size,
    vbench_transform,
)
from evalkit.registry import FEATURES


def musiq_class():
    from evalkit.features.musiq import import_musiq

    try:
        return import_musiq()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    musiq_class()  # skips without pyiqa
    return install_random_musiq(tmp_path_factory.getbasetemp() / "torch_home")


def frames(n=3, h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_scores_are_pyiqa_musiq_per_frame(checkpoint):
    import torch

    from evalkit.features.base import load_backend

    musiq = load_backend("musiq", preprocess="longer")  # the instance the metric tests reuse
    x = frames(2)
    scores = musiq.score(x)  # one batch
    assert scores.shape == (2,) and scores.dtype == np.float64
    # the checkpoint's weights are loaded into pyiqa's MUSIQ ...
    ref = musiq.model
    assert type(ref).__name__ == "MUSIQ" and not ref.training
    saved = torch.load(checkpoint, weights_only=True, mmap=True)
    assert all(torch.equal(saved[k], v) for k, v in ref.state_dict().items())
    # ... and scored as VBench does: model(frame / 255.) one frame at a time
    with torch.no_grad():
        expected = [float(ref(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255.0)) for f in x]
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    assert np.ptp(scores) > 0  # different frames, different scores


def test_vbench_resize_rule():
    assert vbench_resized_size(720, 1280) == (288, 512)        # longer side -> 512
    assert vbench_resized_size(1280, 720) == (512, 288)
    assert vbench_resized_size(480, 640) == (384, 512)
    assert vbench_resized_size(512, 320) == (512, 320)         # not above 512: untouched
    assert vbench_resized_size(720, 1280, "shorter") == (512, 910)
    assert vbench_resized_size(720, 1280, "none") == (720, 1280)


def test_transform_equals_vbench_resize_on_its_float_frames():
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    from torchvision import transforms

    x = frames(2, 300, 700)
    ours = vbench_transform(x) * 255.0
    assert tuple(ours.shape) == (2, 3, 219, 512)
    # vbench/imaging_quality.py transform on load_video's torch.Tensor(frames) (float32)
    vbench = torch.Tensor(x).permute(0, 3, 1, 2)
    ref = transforms.Resize(size=(219, 512), antialias=False)(vbench)
    assert (ours - ref).abs().max().item() < 1e-3


def test_missing_checkpoint_fails_fast_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    start = time.monotonic()
    with pytest.raises(MissingWeightsError) as err:
        FEATURES.get("musiq")()
    assert time.monotonic() - start < 5.0
    assert CHECKPOINT in str(err.value) and "EVALKIT_WEIGHTS_DIR" in str(err.value)


def test_foreign_checkpoint_is_a_clear_error(tmp_path, monkeypatch):
    import torch

    musiq_class()
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(tmp_path))
    torch.save({"weight": torch.zeros(3)}, tmp_path / CHECKPOINT)
    with pytest.raises(MissingWeightsError, match="not a MUSIQ-SPAQ state dict"):
        FEATURES.get("musiq")()
