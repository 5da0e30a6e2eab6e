"""VBench Motion Smoothness: the protocol (even frames in, odd frames scored, 1 − MAE/255) by
hand, with oracle interpolators injected where AMT-S would run, and with the real network
(random weights: shapes, memoisation, determinism only)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.cases import Generation, InlineVideo, MotionTransferCase, MultiShotCase
from evalkit.errors import InvalidInputError
from evalkit.features.amt import AMTInterpolator
from evalkit.features.base import FeatureContext
from evalkit.metrics.motion_smoothness import MotionSmoothness, vbench_split
from evalkit.registry import METRICS
from evalkit.video import Video


class LeftFrame(torch.nn.Module):
    """Predicts the earlier frame."""

    def forward(self, img0, img1, embt):
        return img0


class Average(torch.nn.Module):
    """Predicts the mean of the two frames (no rounding: the backend quantises)."""

    def forward(self, img0, img1, embt):
        return (img0 + img1) / 2


class HalfShift(torch.nn.Module):
    """A correct interpolator for circular translation: finds the shift from img0 to img1 by
    phase correlation and moves img0 by half of it (exact for even shifts)."""

    def forward(self, img0, img1, embt):
        out = []
        for a, b in zip(img0, img1):
            cross = torch.fft.fft2(b.mean(0)) * torch.fft.fft2(a.mean(0)).conj()
            peak = int(torch.fft.ifft2(cross / cross.abs().clamp_min(1e-12)).real.argmax())
            h, w = a.shape[1:]
            dy, dx = [(d + n // 2) % n - n // 2 for d, n in ((peak // w, h), (peak % w, w))]  # signed
            out.append(torch.roll(a, (dy // 2, dx // 2), (1, 2)))
        return torch.stack(out)


def oracle(model):
    return AMTInterpolator(model=model)


def constant_video(levels, size=(128, 128)) -> Video:
    return Video(np.stack([np.full((*size, 3), v, np.uint8) for v in levels]), 8.0, "<levels>")


def texture(size=(128, 128), seed=0) -> np.ndarray:
    low = np.random.default_rng(seed).uniform(0, 255, (size[0] // 8, size[1] // 8, 3))
    return np.kron(low, np.ones((8, 8, 1))).astype(np.uint8)  # blocky texture, every shift distinct


def translating(n=9, velocity=(1, 2), seed=0) -> Video:
    tex = texture(seed=seed)
    return Video(np.stack([np.roll(tex, (velocity[0] * t, velocity[1] * t), (0, 1)) for t in range(n)]), 8.0, "<pan>")


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    from evalkit.testing.random_amt import install_random_amt

    return install_random_amt(tmp_path_factory.getbasetemp() / "torch_home")


def test_spec_states_the_facts():
    spec = METRICS.get("motion-smoothness").spec
    assert spec.higher_is_better and spec.value_range == (0.0, 1.0) and spec.report_scale == 100.0
    assert spec.backends == ("amt-s",) and spec.inputs == ("generated",) and spec.per_video
    assert set(spec.case_kinds) == {"motion-transfer", "multi-shot", "personalization"}


def test_vbench_frame_split():
    frames = np.arange(6)
    inputs, targets = vbench_split(frames)
    assert inputs.tolist() == [0, 2, 4] and targets.tolist() == [1, 3]   # frame 5 unused (even count)
    inputs, targets = vbench_split(np.arange(7))
    assert inputs.tolist() == [0, 2, 4, 6] and targets.tolist() == [1, 3, 5]


def test_protocol_arithmetic_by_hand():
    ctx = FeatureContext()
    # inputs 10, 30, 60 -> predictions (the earlier frame) 10, 30 vs frames 1, 3 = 20, 50:
    # MAE 10 and 20, mean 15, (255 - 15) / 255 = 16/17; frame 5 (200) is never scored
    r = MotionSmoothness().score_video(constant_video([10, 20, 30, 50, 60, 200]), ctx, oracle(LeftFrame()))
    assert r.value == pytest.approx(16 / 17, abs=1e-15)
    assert r.details["frame_mae"] == [10.0, 20.0] and r.details["interpolated_frames"] == [1, 3]
    # MAE over pixels and channels: one channel off by 30 on a quarter of the frame -> 2.5
    frames = np.zeros((3, 128, 128, 3), np.uint8)
    frames[1, :64, :64, 1] = 30
    r = MotionSmoothness().score_video(Video(frames, 8.0, "<patch>"), ctx, oracle(LeftFrame()))
    assert r.details["frame_mae"] == [2.5] and r.value == pytest.approx(252.5 / 255, abs=1e-15)


def test_interpolated_frames_are_truncated_to_uint8_as_vbench_does():
    # (10 + 13) / 2 = 11.5 -> tensor2img's astype(uint8) gives 11 (rounding would give 12)
    assert 11.49 < float((torch.tensor(10.0) / 255 + torch.tensor(13.0) / 255) / 2 * 255) < 11.51
    r = MotionSmoothness().score_video(constant_video([10, 0, 13]), FeatureContext(), oracle(Average()))
    assert r.details["frame_mae"] == [11.0] and r.value == pytest.approx(244 / 255, abs=1e-15)


def test_static_video_scores_exactly_one_with_an_exact_interpolator():
    # 120x136 pads to 128x144: replicate padding, /255 and the uint8 round trip lose nothing
    tex = texture((120, 136))
    video = Video(np.stack([tex] * 5), 8.0, "<static>")
    for model in (LeftFrame(), Average(), HalfShift()):
        assert MotionSmoothness().score_video(video, FeatureContext(), oracle(model)).value == 1.0


def test_linear_motion_is_smoother_than_shuffled_frames():
    metric, pan = MotionSmoothness(), translating()
    interp = oracle(HalfShift())
    linear = metric.score_video(pan, FeatureContext(), interp).value
    backwards = metric.score_video(pan.reversed(), FeatureContext(), interp).value
    order = np.random.default_rng(3).permutation(pan.num_frames)
    shuffled = metric.score_video(Video(pan.frames[order], 8.0, "<shuffled>"), FeatureContext(), interp).value
    assert linear == 1.0 and backwards == 1.0  # the midpoint of linear motion is exact
    assert shuffled < 0.85
    # a wrong interpolator cannot tell them apart as well: the earlier frame scores the pan below 1
    assert metric.score_video(pan, FeatureContext(), oracle(LeftFrame())).value < 0.95


def test_too_few_frames_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="at least 3 frames.*has 2"):
        MotionSmoothness().score_video(constant_video([1, 2]), FeatureContext(), oracle(LeftFrame()))


def test_real_network_through_the_context(random_checkpoint):
    ctx = FeatureContext()
    video = translating(n=3)
    case = MotionTransferCase("c", InlineVideo(video), "p")
    result = MotionSmoothness()(case, Generation((video,)), ctx)
    (mae,) = result.details["frame_mae"]  # one interpolated frame (frame 1 from frames 0 and 2)
    assert 0 < mae < 255 and result.value == pytest.approx((255 - mae) / 255, abs=1e-15)
    assert result.details["backend_weights"] == "torch.hub:amt-s.pth"
    misses = ctx.misses
    assert MotionSmoothness()(case, Generation((video,)), ctx).value == result.value
    assert ctx.misses == misses  # one interpolation pass per video per run


def test_multi_shot_sets_list_one_value_per_shot(random_checkpoint):
    ctx = FeatureContext()
    model = ctx.backend("amt-s")
    shots = (translating(n=3, seed=1), translating(n=5, seed=2))
    ctx.features(model, shots[0], "vbench-vfi-mae", lambda: [51.0])
    ctx.features(model, shots[1], "vbench-vfi-mae", lambda: [10.0, 20.0])
    result = MotionSmoothness()(MultiShotCase("m", "a girl", ("a", "b")), Generation(shots), ctx)
    assert result.details["per_video"] == pytest.approx([204 / 255, 240 / 255])
    assert result.value == pytest.approx((204 + 240) / 2 / 255)
    short = (shots[0], constant_video([1, 2]))
    with pytest.raises(InvalidInputError, match="m shot 1: .*at least 3 frames"):
        MotionSmoothness()(MultiShotCase("m", "a girl", ("a", "b")), Generation(short), ctx)


@pytest.mark.slow
def test_throughput_benchmark_smoke(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "motion_smoothness.py"
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(bench), "--tiny", "--device", "cpu", "--out", str(out)],
                          check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (r,) = json.loads(out.read_text())["results"]
    assert r["clip"] == "3x128x128" and r["interpolated_frames"] == 1 and r["fps_batched"] > 0
    assert r["max_score_difference"] < 1e-3
