"""Host clips pinned ahead of the upload on CUDA (run on the device machine): the pinned copies
hold the host frames, and DINO's embeddings of many clips equal one clip at a time."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("needs CUDA", allow_module_level=True)

from evalkit.features import base  # noqa: E402
from evalkit.features.base import unload_backends  # noqa: E402
from evalkit.features.frames import pinned_ahead, to_device  # noqa: E402


def _clips(n=4):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (5 + i, 48, 64, 3), dtype=np.uint8) for i in range(n)]


def test_pinned_clips_hold_the_host_frames_and_upload_unchanged():
    clips = _clips()
    for host, pinned in zip(clips, pinned_ahead(clips, "cuda")):
        assert pinned.is_pinned() and np.array_equal(pinned.numpy(), host)
        assert np.array_equal(to_device(pinned, "cuda").cpu().numpy(), host)
    on_device = torch.from_numpy(clips[0]).cuda()
    assert next(iter(pinned_ahead([on_device], "cuda"))) is on_device   # device tensors pass through


def test_dino_embeds_many_clips_as_it_embeds_each(tmp_path_factory, monkeypatch):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["facebook/dino-vitb16"])
    unload_backends()
    dino = base.load_backend("dino-vitb16", "cuda", batch_size=8)
    clips = _clips()
    together = dino.embed_videos(clips)
    for clip, feats in zip(clips, together):
        np.testing.assert_allclose(feats, dino.embed(clip), atol=1e-4)
