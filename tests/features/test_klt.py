import subprocess
import sys

import numpy as np

from evalkit.features.base import load_backend
from evalkit.synthetic import SyntheticSpec, render


def test_klt_follows_exact_synthetic_translation():
    clip = render(SyntheticSpec("pan", num_frames=12))
    tr = load_backend("klt").track([clip.video], queries=clip.tracks[0])[0]
    assert tr.points.shape == clip.tracks.shape and tr.visible.shape == clip.visible.shape
    err = np.linalg.norm(tr.points - clip.tracks, axis=-1)[clip.visible]
    assert np.median(err) < 0.25  # a textured pan is KLT's easy case: sub-pixel


def test_klt_grid_mask_and_static_video():
    clip = render(SyntheticSpec("static", num_frames=6))
    backend = load_backend("klt")
    tr = backend.track([clip.video], grid_size=11)[0]
    assert tr.points.shape == (6, 121, 2)
    assert np.abs(np.diff(tr.points, axis=0)).max() < 0.05  # nothing moves
    mask = np.zeros(clip.video.size, bool)
    mask[:, : clip.video.width // 2] = True
    half = backend.track([clip.video], grid_size=11, mask=mask)[0]
    assert 0 < half.num_points < 121 and (half.points[0, :, 0] < clip.video.width / 2).all()


def test_klt_motion_fidelity_needs_no_torch():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
        "from evalkit.synthetic import SyntheticSpec, render\n"
        "from evalkit.cases import Generation, InlineVideo, MotionTransferCase\n"
        "from evalkit.features.base import FeatureContext\n"
        "from evalkit.registry import METRICS, FEATURES\n"
        "FEATURES.names(); METRICS.names()\n"
        "v = render(SyntheticSpec('pan', num_frames=6)).video\n"
        "m = METRICS.get('motion-fidelity')(backend='klt', grid_size=8)\n"
        "print(m(MotionTransferCase('c', InlineVideo(v), 't'), Generation((v,)), FeatureContext()).value)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) > 0.99
