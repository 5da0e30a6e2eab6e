import numpy as np

from evalkit.features.base import load_backend
from evalkit.synthetic import SyntheticSpec, render


def test_dis_flow_matches_a_known_pan():
    clip = render(SyntheticSpec("pan", num_frames=4))
    flow = load_backend("dis").flow(clip.video)
    assert flow.shape == (3, clip.video.height, clip.video.width, 2) and flow.dtype == np.float32
    truth = np.median(np.diff(clip.tracks, axis=0), axis=1)  # (T-1, 2) the pan's step
    inner = flow[:, 16:-16, 16:-16]
    assert np.allclose(np.median(inner.reshape(3, -1, 2), axis=1), truth, atol=0.3)
