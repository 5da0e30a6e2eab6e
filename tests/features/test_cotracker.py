"""CoTracker through its real loading path (torch.hub, local hub cache, checkpoint
resolution) with a stand-in hubconf.py that follows CoTracker's calling convention."""
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.errors import MissingWeightsError  # noqa: E402
from evalkit.features import base  # noqa: E402
from evalkit.features.base import unload_backends  # noqa: E402
from evalkit.synthetic import SyntheticSpec, render  # noqa: E402
from evalkit.testing.random_motion import install_random_cotracker3  # noqa: E402

COTRACKER_CODE = os.environ.get("EVALKIT_COTRACKER_DIR")  # read before the fixture clears it

# A tiny predictor with CoTracker's interface: predictor.model holds the weights; forward
# takes video B×T×3×H×W float 0–255 and grid_size / queries / segm_mask and returns
# tracks B×T×N×2 and visibility B×T×N (bool).
HUBCONF = textwrap.dedent('''
    import torch

    class _Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.step = torch.nn.Parameter(torch.zeros(2))

    class Predictor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = _Net()

        def forward(self, video, queries=None, segm_mask=None, grid_size=0, grid_query_frame=0,
                    backward_tracking=False):
            assert video.dtype == torch.float32 and video.shape[2] == 3 and video.max() > 1.5
            B, T, _, H, W = video.shape
            if queries is None:
                m = W / 64
                ys, xs = torch.meshgrid(torch.linspace(m, H - m, grid_size),
                                        torch.linspace(m, W - m, grid_size), indexing="ij")
                pts = torch.stack([xs.flatten(), ys.flatten()], -1)
                if segm_mask is not None:
                    keep = segm_mask[0, 0][pts[:, 1].round().long(), pts[:, 0].round().long()] > 0
                    pts = pts[keep]
                queries = torch.cat([torch.zeros_like(pts[:, :1]), pts], 1)[None].repeat(B, 1, 1)
            t = torch.arange(T, dtype=torch.float32)[None, :, None, None]
            tracks = queries[:, None, :, 1:] + t * self.model.step
            return tracks, torch.ones(tracks.shape[:3], dtype=torch.bool)

    def {entry}(*, pretrained=True, **kwargs):
        return Predictor()
''')


def _install(torch_home: Path, ref: str, entry: str, checkpoint: str, step=(1.5, -0.5)) -> None:
    hub = torch_home / "hub" / f"facebookresearch_co-tracker_{ref}"
    hub.mkdir(parents=True)
    (hub / "hubconf.py").write_text(HUBCONF.replace("{entry}", entry))
    (torch_home / "hub" / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.save({"step": torch.tensor(step)}, torch_home / "hub" / "checkpoints" / checkpoint)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch, tmp_path):
    unload_backends()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("EVALKIT_COTRACKER_DIR", raising=False)
    yield tmp_path / "torch"
    unload_backends()


def test_cotracker3_loads_offline_and_returns_documented_shapes(_fresh):
    _install(_fresh, "main", "cotracker3_offline", "scaled_offline.pth")
    backend = base.load_backend("cotracker3")
    assert backend.weights_id == "torch.hub:facebookresearch/co-tracker:main/cotracker3_offline:scaled_offline.pth"
    video = render(SyntheticSpec("pan", num_frames=5)).video
    tr = backend.track([video, video], grid_size=7)
    assert len(tr) == 2 and tr[0].points.shape == (5, 49, 2) and tr[0].visible.shape == (5, 49)
    assert tr[0].points.dtype == np.float32 and tr[0].visible.dtype == bool
    # the checkpoint was loaded into predictor.model: the stand-in moves by its weights
    assert np.allclose(np.diff(tr[0].points, axis=0), [1.5, -0.5])
    mask = np.zeros(video.size, bool)
    mask[20:60, 30:90] = True
    assert 0 < backend.track([video], grid_size=7, mask=mask)[0].num_points < 49
    q = backend.track([video], queries=np.array([[10, 20], [30, 40]], np.float32))[0]
    assert q.points[0].tolist() == [[10, 20], [30, 40]]


def test_cotracker1_uses_the_v1_hub_tag_and_checkpoint(_fresh):
    _install(_fresh, "v1.0", "cotracker_w8", "cotracker_stride_4_wind_8.pth", step=(0.0, 2.0))
    backend = base.load_backend("cotracker1")
    tr = backend.track([render(SyntheticSpec("static", num_frames=3)).video], grid_size=4)[0]
    assert tr.points.shape == (3, 16, 2) and np.allclose(np.diff(tr.points, axis=0), [0.0, 2.0])


def test_missing_code_and_missing_checkpoint_are_clear(_fresh):
    with pytest.raises(MissingWeightsError) as exc:
        base.load_backend("cotracker3")
    msg = str(exc.value)
    assert "hubconf.py" in msg and "facebookresearch_co-tracker_main" in msg and "git clone" in msg
    _install(_fresh, "main", "cotracker3_offline", "scaled_offline.pth")
    (_fresh / "hub" / "checkpoints" / "scaled_offline.pth").unlink()
    with pytest.raises(MissingWeightsError, match="scaled_offline.pth.*huggingface.co/facebook/cotracker3"):
        base.load_backend("cotracker3")


def test_motion_fidelity_runs_on_the_cotracker_path(_fresh):
    from evalkit.cases import Generation, InlineVideo, MotionTransferCase
    from evalkit.features.base import FeatureContext
    from evalkit.registry import METRICS

    _install(_fresh, "main", "cotracker3_offline", "scaled_offline.pth")
    video = render(SyntheticSpec("pan", num_frames=4)).video
    metric = METRICS.get("motion-fidelity")(grid_size=5)
    assert metric.backend == "cotracker3"
    res = metric(MotionTransferCase("c", InlineVideo(video), "t"), Generation((video,)), FeatureContext())
    assert res.value == pytest.approx(1.0) and res.details["source_tracks"] == 25


def test_videos_of_one_shape_share_forward_passes_of_batch_size(_fresh):
    _install(_fresh, "main", "cotracker3_offline", "scaled_offline.pth")
    backend = base.load_backend("cotracker3")
    assert backend.batch_size == 4  # CoTracker3 offline: 4 videos per pass unless told otherwise
    backend.batch_size = 2
    calls = []
    forward = backend.model.forward
    backend.model.forward = lambda video, **kw: calls.append(tuple(video.shape[:2])) or forward(video, **kw)
    small = [render(SyntheticSpec("pan", num_frames=4, height=64, width=80, seed=s)).video for s in range(3)]
    large = render(SyntheticSpec("pan", num_frames=5)).video
    videos = [small[0], large, small[1], small[2]]
    together = backend.track(videos, grid_size=5)
    assert calls == [(2, 4), (1, 4), (1, 5)]  # same-shape videos batched, in chunks of batch_size
    for v, tr in zip(videos, together):  # each video's tracks, in the order given
        np.testing.assert_array_equal(tr.points, backend.track([v], grid_size=5)[0].points)


def test_reshape_non_viewable_lets_an_expanded_view_through_and_keeps_real_views():
    from evalkit.features.cotracker import reshape_non_viewable

    coords = torch.arange(6.0).reshape(2, 1, 3).expand(2, 4, 3)  # CoTracker3's (B, T, N, 2) start
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        coords.view(8, 3)
    with reshape_non_viewable():
        flat = coords.view(8, 3)
        plain = torch.zeros(4, 3)
        alias = plain.view(12)
    assert torch.equal(flat, coords.reshape(8, 3))
    alias[0] = 1.0
    assert plain[0, 0] == 1.0  # a viewable view is still a view


@pytest.mark.slow  # the real CoTracker3 architecture with random weights on a CPU (~15 s)
def test_real_cotracker3_batched_over_videos_equals_one_video_at_a_time(monkeypatch, tmp_path):
    code = COTRACKER_CODE
    if not code or not (Path(code) / "hubconf.py").is_file():
        pytest.skip("set EVALKIT_COTRACKER_DIR to a co-tracker checkout")
    monkeypatch.setenv("EVALKIT_COTRACKER_DIR", code)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    install_random_cotracker3(tmp_path, code, copy_code=False)
    backend = base.load_backend("cotracker3")
    # a small working resolution keeps the CPU time down; the batch path is the same
    backend.model.interp_shape = (32, 48)
    backend.model.model.model_resolution = (32, 48)
    videos = [render(SyntheticSpec(m, num_frames=5, height=40, width=56, seed=i)).video
              for i, m in enumerate(("pan", "rotation"))]
    batched = backend.track(videos, grid_size=4)
    for v, tr in zip(videos, batched):
        alone = backend.track([v], grid_size=4)[0]
        assert np.abs(tr.points - alone.points).max() < 1e-3 and np.array_equal(tr.visible, alone.visible)
