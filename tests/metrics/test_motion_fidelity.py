import numpy as np
import pytest

from evalkit.cases import Generation, InlineVideo, MotionTransferCase
from evalkit.errors import InvalidInputError
from evalkit.features.base import FeatureContext
from evalkit.metrics.motion_fidelity import MotionFidelity, correlation_matrix, motion_fidelity, unit_steps
from evalkit.registry import METRICS
from evalkit.synthetic import SyntheticSpec, render
from evalkit.testing.contexts import FixedBackendContext  # noqa: E402
from evalkit.video import Video


def _line(start, step, t=5):
    return np.asarray(start, float) + np.arange(t)[:, None] * np.asarray(step, float)


def _brute_corr(p, q):
    def cos(a, b):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return 0.0 if na < 1e-6 or nb < 1e-6 else float(a @ b / (na * nb))
    dp, dq = np.diff(p, axis=0), np.diff(q, axis=0)
    return np.mean([cos(a, b) for a, b in zip(dp, dq)])


def test_known_answers_on_hand_made_tracks():
    right = np.stack([_line([0, 0], [1, 0]), _line([5, 5], [2, 0])])
    assert motion_fidelity(right, right) == pytest.approx(1.0)
    assert motion_fidelity(right, right[:, ::-1]) == pytest.approx(-1.0)   # reversed motion
    static = np.stack([_line([0, 0], [0, 0]), _line([3, 3], [0, 0])])
    assert motion_fidelity(right, static) == 0.0                             # zero step → cosine 0
    assert np.isfinite(unit_steps(static)).all()


def test_symmetric_and_dmt_official_differ_exactly_as_specified():
    rng = np.random.default_rng(0)
    p = np.cumsum(rng.normal(size=(6, 7, 2)), axis=1)   # source tracks (n=6)
    q = np.cumsum(rng.normal(size=(6, 7, 2)), axis=1)   # generated tracks (m=6)
    q[2] = p[4]                                           # one exact copy
    c = np.array([[_brute_corr(qi, pj) for pj in p] for qi in q])
    assert np.allclose(correlation_matrix(q, p), c)
    sym = 0.5 * (c.max(1).mean() + c.max(0).mean())
    official = (c - np.eye(6)).max(1).mean()             # generated → source, identity subtracted
    assert motion_fidelity(p, q, "symmetric") == pytest.approx(sym)
    assert motion_fidelity(p, q, "dmt_official") == pytest.approx(official)
    # same video: symmetric is 1, the official quirk removes each track's own match
    assert motion_fidelity(p, p, "symmetric") == pytest.approx(1.0)
    assert motion_fidelity(p, p, "dmt_official") < 1.0
    with pytest.raises(InvalidInputError):
        motion_fidelity(p, q[:5], "dmt_official")


def _score(src, gen, ctx=None, **opts):
    metric = METRICS.get("motion-fidelity")(backend="klt", grid_size=20, **opts)
    case = MotionTransferCase("c", InlineVideo(src), "t")
    return metric(case, Generation((gen,)), ctx or FeatureContext())


def test_klt_same_video_static_and_reversed():
    pan = render(SyntheticSpec("pan", num_frames=10)).video
    static = render(SyntheticSpec("static", num_frames=10)).video
    assert _score(pan, pan).value >= 0.99
    assert _score(pan, static).value < 0.1
    assert _score(pan, pan.reversed()).value < -0.5
    # independent noise frames: LK converges without moving; no motion may be invented
    noise = pan.with_frames(np.random.default_rng(0).integers(0, 256, pan.frames.shape, dtype=np.uint8))
    assert _score(pan, noise).value < 0.15


def test_source_tracks_are_computed_once_and_shared(monkeypatch):
    from evalkit.features.klt import KLTTracker

    tracked = []
    original = KLTTracker.track
    monkeypatch.setattr(KLTTracker, "track", lambda self, videos, **kw: tracked.append(videos[0].fingerprint())
                        or original(self, videos, **kw))
    src = render(SyntheticSpec("pan", num_frames=8)).video
    gens = [render(SyntheticSpec("pan", num_frames=8, seed=s)).video for s in (1, 2)]
    ctx = FeatureContext()
    for g in gens:
        _score(src, g, ctx)
    assert tracked == [src.fingerprint(), gens[0].fingerprint(), gens[1].fingerprint()]


def test_alignment_truncates_and_resizes_with_a_note():
    src = render(SyntheticSpec("pan", num_frames=10)).video
    gen = render(SyntheticSpec("pan", num_frames=7, height=64, width=80)).video
    res = _score(src, gen)
    assert res.details["frames"] == 7
    assert any("resized 64x80 -> 128x160" in n for n in res.details["notes"])


def test_use_mask_tracks_inside_the_source_mask_box():
    clip = render(SyntheticSpec("translation", num_frames=8))

    class Masks:
        def load(self):
            return clip.masks

    metric = MotionFidelity(backend="klt", grid_size=20, use_mask=True)
    case = MotionTransferCase("c", InlineVideo(clip.video), "t", source_mask=Masks())
    res = metric(case, Generation((clip.video,)), FeatureContext())
    assert 0 < res.details["source_tracks"] < 400
    # the subject moves everywhere inside its box: self-fidelity near 1 (the full grid is not:
    # its static background contributes cosine 0)
    assert res.value > _score(clip.video, clip.video).value
    with pytest.raises(InvalidInputError, match="no source mask"):
        metric(MotionTransferCase("c", InlineVideo(clip.video), "t"), Generation((clip.video,)), FeatureContext())


def test_spec_facts():
    spec = MotionFidelity.spec
    assert spec.backends[0] == "cotracker3" and "klt" in spec.backends and spec.higher_is_better


def test_mask_of_another_size_is_resized_and_a_one_row_mask_is_an_error():
    clip = render(SyntheticSpec("translation", num_frames=6))

    class Masks:
        def __init__(self, m):
            self.m = m

        def load(self):
            return self.m

    small = clip.masks[:, ::2, ::2]
    metric = MotionFidelity(backend="klt", grid_size=12, use_mask=True)
    res = metric(MotionTransferCase("c", InlineVideo(clip.video), "t", source_mask=Masks(small)),
                 Generation((clip.video,)), FeatureContext())
    assert any("mask resized 64x80 -> 128x160" in n for n in res.details["notes"])
    line = np.zeros_like(clip.masks)
    line[:, 10, 20:40] = True
    with pytest.raises(InvalidInputError, match="bounding box is empty"):
        metric(MotionTransferCase("c", InlineVideo(clip.video), "t", source_mask=Masks(line)),
               Generation((clip.video,)), FeatureContext())


def there_and_back(seed: int, n: int, fps: float) -> Video:
    """A camera pan that turns back halfway: 2n+1 frames at ``fps`` (frames 0..n, then n-1..0)."""
    clip = render(SyntheticSpec("pan", seed=seed, num_frames=n + 1, fps=fps)).video
    return clip.with_frames(clip.frames[np.r_[0:n + 1, n - 1:-1:-1]], note="there-and-back")


def dit_pair(n: int = 12, f: float = 8.0, seed_src: int = 0, seed_gen: int = 1) -> tuple[Video, Video]:
    """Source: n frames at f fps. Generated: exactly the same motion (another subject and
    texture) in 2n+1 frames at 2f fps, the DiT rule of Motion by Queries App. A.1.1."""
    source = there_and_back(seed_src, n, 2 * f).subsample(0, 2 * n - 1, 2)
    return source, there_and_back(seed_gen, n, 2 * f)


@pytest.mark.parametrize("variant", ["symmetric", "dmt_official"])
def test_dit_frame_rule_pair_is_aligned_by_time_not_truncated(variant):
    source, generated = dit_pair()
    assert (source.num_frames, source.fps, generated.num_frames, generated.fps) == (12, 8.0, 25, 16.0)
    res = _score(source, generated, variant=variant)
    assert res.value >= 0.95          # truncation compared the first half with the whole motion (~0.1)
    ta = res.details["time_alignment"]
    assert ta["source"]["used"] == list(range(12)) and ta["generated"]["used"] == list(range(0, 24, 2))
    assert ta["generated"]["fps"] == 16.0 and ta["rule"] and res.details["frames"] == 12
    assert any("generated" in n and "25 frames" in n for n in res.details["notes"])


class WholeClipTracker:
    """A tracker stand-in that, like CoTracker3 offline, sees the whole clip: the direction of
    step k of point j is pi·k/(T−1) + 0.7·(j mod 3), so a clip's first steps depend on its length T."""
    weights_id = None
    identity = "whole-clip-tracker"

    def __init__(self):
        self.calls = []

    def track(self, videos, *, grid_size=55, mask=None, queries=None):
        from evalkit.features.tracking import Tracks, grid_points

        out = []
        for v in videos:
            self.calls.append((v.num_frames, v.height, v.width))
            start = grid_points(grid_size, v.height, v.width)
            angle = np.pi * np.arange(v.num_frames - 1)[:, None] / (v.num_frames - 1) + 0.7 * (np.arange(len(start)) % 3)
            steps = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
            points = start[None] + np.concatenate([np.zeros((1, len(start), 2)), np.cumsum(steps, axis=0)])
            out.append(Tracks(points.astype(np.float32), np.ones(points.shape[:2], bool)))
        return out




def test_ditflow_protocol_tracks_full_videos_at_their_own_sizes_then_slices():
    source = render(SyntheticSpec("pan", num_frames=16)).video                      # 128x160
    generated = render(SyntheticSpec("pan", num_frames=12, height=64, width=80, seed=1)).video
    tracker = WholeClipTracker()
    metric = MotionFidelity(protocol="ditflow", grid_size=55)
    assert metric.options["variant"] == "dmt_official" and metric.backend == "cotracker3"
    res = metric(MotionTransferCase("c", InlineVideo(source), "t"), Generation((generated,)),
                 FixedBackendContext(tracker))
    assert tracker.calls == [(16, 128, 160), (12, 64, 80)]  # whole clips, each at its own size
    full_p, full_q = (t.points.transpose(1, 0, 2) for t in WholeClipTracker().track([source, generated]))
    assert res.value == pytest.approx(motion_fidelity(full_p[:, :12], full_q[:, :12], "dmt_official"), abs=1e-12)
    # cutting the source first and then tracking (the time-aligned order) gives other tracks
    cut_p = WholeClipTracker().track([source.truncate(12)])[0].points.transpose(1, 0, 2)
    assert abs(res.value - motion_fidelity(cut_p, full_q, "dmt_official")) > 0.05
    ta = res.details["time_alignment"]
    assert ta["protocol"] == "ditflow" and ta["source"]["frames"] == 16 and ta["generated"]["used"] == list(range(12))
    assert res.details["frames"] == 12 and len(res.details["notes"]) == 2


def test_ditflow_protocol_fixes_its_script_settings():
    from evalkit.errors import EvalkitError

    metric = MotionFidelity(protocol="ditflow", variant="dmt_official", backend="klt")
    assert (metric.options["grid_size"], metric.options["use_mask"]) == (55, False)
    assert metric.column == "motion-fidelity[klt,protocol=ditflow,variant=dmt_official]"
    with pytest.raises(EvalkitError, match="protocol=ditflow fixes.*drop variant='symmetric'"):
        MotionFidelity(protocol="ditflow", variant="symmetric")
    with pytest.raises(EvalkitError, match="drop use_mask=True"):
        MotionFidelity(protocol="ditflow", use_mask=True)
