"""RAFT and CoTracker3 on CUDA with random weights (run on the device machine).
CoTracker's hub code is taken from $EVALKIT_COTRACKER_DIR (a co-tracker checkout)."""
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("needs CUDA", allow_module_level=True)

from evalkit.features import base  # noqa: E402
from evalkit.features.base import unload_backends  # noqa: E402
from evalkit.testing.random_motion import install_random_cotracker3, install_random_raft  # noqa: E402
from evalkit.video import Video  # noqa: E402


def _video(t=9, h=240, w=360, step=(3.0, 1.0)):
    import cv2
    rng = np.random.default_rng(0)
    canvas = cv2.resize(rng.uniform(0, 255, (h // 6, w // 6, 3)).astype(np.float32), (w + 80, h + 80))
    frames = [cv2.warpAffine(canvas, np.float32([[1, 0, -(20 + step[0] * i)], [0, 1, -(20 + step[1] * i)]]), (w, h))
              for i in range(t)]
    return Video(np.clip(np.stack(frames), 0, 255).astype(np.uint8), 8.0)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    unload_backends()
    yield
    unload_backends()


@pytest.fixture
def random_cotracker3(monkeypatch, tmp_path):
    """CoTracker3 with random weights in a temporary TORCH_HOME, its code from $EVALKIT_COTRACKER_DIR."""
    code = os.environ.get("EVALKIT_COTRACKER_DIR")
    if not code or not (Path(code) / "hubconf.py").is_file():
        pytest.skip("set EVALKIT_COTRACKER_DIR to a co-tracker checkout")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    install_random_cotracker3(tmp_path, code, copy_code=False)


def test_raft_large_batched_equals_one_pair_at_a_time(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    install_random_raft(tmp_path)
    v = _video(h=250)  # not a multiple of 8: padded inside, cropped back
    batched = base.load_backend("raft", "cuda", batch_size=8).flow(v)
    single = base.load_backend("raft", "cuda", batch_size=1).flow(v)
    assert batched.shape == (8, 250, 360, 2)
    assert np.abs(batched - single).max() < 1e-2 * max(1.0, np.abs(single).max())


def test_cotracker3_random_weights_on_cuda(random_cotracker3):
    backend = base.load_backend("cotracker3", "cuda")
    v = _video()
    tr = backend.track([v, v], grid_size=55)
    assert tr[0].points.shape == (9, 3025, 2) and tr[0].visible.shape == (9, 3025)
    assert np.allclose(tr[0].points, tr[1].points, atol=1e-3)         # deterministic per video
    # CoTracker places its grid at 384×512 and scales back: evalkit's grid (klt uses the same)
    assert np.allclose(tr[0].points[0], backend.query_points(v, 55, None, None), atol=1e-3)
    mask = np.zeros(v.size, bool)
    mask[60:180, 90:270] = True
    assert 0 < backend.track([v], grid_size=55, mask=mask)[0].num_points < 3025


def test_device_frames_are_uploaded_once_and_equal_the_host_frames():
    from evalkit.features.frames import DeviceFrames

    v = _video(t=5)
    frames = DeviceFrames("cuda")
    a, b = frames.get(v), frames.get(v)
    assert a is b and frames.uploads == 1 and a.is_cuda
    assert np.array_equal(a.cpu().numpy(), v.frames)


def test_raft_in_bf16_and_tf32_stays_near_float32(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    install_random_raft(tmp_path)
    v = _video(t=5)
    ref = base.load_backend("raft", "cuda").flow(v)
    for dtype in ("tf32", "bfloat16"):
        flow = base.load_backend("raft", "cuda", dtype).flow(v)
        assert flow.dtype == np.float32 and np.isfinite(flow).all()
        assert np.abs(flow - ref).max() < 0.5 * max(1.0, np.abs(ref).max())  # random weights: a loose bound


def test_cotracker3_batch_of_videos_equals_one_at_a_time_on_cuda(random_cotracker3):
    backend = base.load_backend("cotracker3", "cuda", batch_size=3)
    videos = [_video(step=(s, 1.0)) for s in (1.0, 2.0, 3.0)]
    together = backend.track(videos, grid_size=20)
    for v, tr in zip(videos, together):
        alone = backend.track([v], grid_size=20)[0]
        assert np.abs(tr.points - alone.points).max() < 1e-2
    bf16 = base.load_backend("cotracker3", "cuda", "bfloat16", batch_size=3).track(videos, grid_size=20)
    assert all(np.isfinite(t.points).all() for t in bf16)
