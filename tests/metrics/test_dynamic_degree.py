import numpy as np
import pytest

from evalkit.cases import Generation, InlineVideo, MotionTransferCase
from evalkit.features.base import FeatureContext
from evalkit.metrics.dynamic_degree import (
    DynamicDegree,
    frame_step,
    is_dynamic,
    is_frame_folder,
    pad_sintel,
    pair_score,
    thresholds,
)
from evalkit.synthetic import SyntheticSpec, render
from evalkit.video import Video


def test_vbench_frame_step_uses_python_round():
    assert [frame_step(f) for f in (4, 8, 12, 16, 20, 24, 25, 30, 60)] == [1, 1, 2, 2, 2, 3, 3, 4, 8]


def test_thresholds_scale_with_resolution_like_vbench():
    assert thresholds(256, 256, 16) == (6.0, 4)
    assert thresholds(480, 720, 49)[0] == pytest.approx(11.25)        # 6·480/256
    assert thresholds(1080, 1920, 16)[0] == pytest.approx(25.3125)
    assert thresholds(128, 160, 24)[0] == pytest.approx(3.0)
    # count_num = round(4·n/16), halves to even
    assert [thresholds(64, 64, n)[1] for n in (2, 6, 10, 14, 16, 24)] == [0, 2, 2, 4, 4, 6]
    # fps_factor (VBench 11abda9..fc4620b only): thres × max(1, 8/fps)
    assert thresholds(256, 256, 16, fps=4)[0] == pytest.approx(12.0)
    assert thresholds(256, 256, 16, fps=24)[0] == pytest.approx(6.0)


def test_pair_score_is_mean_of_top_five_percent():
    flow = np.zeros((10, 20, 2), np.float32)       # 200 px: top int(10) magnitudes
    flow.reshape(-1, 2)[:10] = [3, 4]               # ten vectors of length 5
    flow.reshape(-1, 2)[10] = [0, 1]
    assert pair_score(flow) == pytest.approx(5.0)
    assert is_dynamic([1, 5, 5], thres=4.0, count_num=2) and not is_dynamic([1, 4, 5], 4.0, 2)


def test_pad_sintel_splits_padding_like_raft():
    frames = np.zeros((2, 130, 141, 3), np.uint8)
    frames[:, 0] = 7
    padded = pad_sintel(frames)
    assert padded.shape == (2, 136, 144, 3) and (padded[:, :3] == 7).all()  # 3 on top, 3 below


def _dd(video, backend="dis", **opts):
    metric = DynamicDegree(backend=backend, **opts)
    return metric(MotionTransferCase("c", InlineVideo(video), "t"), Generation((video,)), FeatureContext())


def test_static_is_not_dynamic_and_fast_is():
    static = _dd(render(SyntheticSpec("static")).video)
    fast = _dd(render(SyntheticSpec("fast")).video)
    assert static.value == 0.0 and max(static.details["pair_scores"]) < 0.5
    assert fast.value == 1.0 and fast.details["thres"] == pytest.approx(3.0)
    assert DynamicDegree.spec.boolean and DynamicDegree.spec.backends == ("raft", "dis")


def test_subsampling_follows_origin(tmp_path):
    frames = render(SyntheticSpec("pan", num_frames=24)).video.frames
    as_file = Video(frames, 24.0, str(tmp_path / "clip.mp4"))
    folder = tmp_path / "frames"
    folder.mkdir()
    as_folder = Video(frames, 24.0, str(folder))
    assert not is_frame_folder(as_file) and is_frame_folder(as_folder)
    assert _dd(as_file).details["frames_sampled"] == 8           # every 3rd frame at 24 fps
    assert _dd(as_folder).details["frames_sampled"] == 24        # frame folders: all frames
    assert _dd(as_folder, subsample="always").details["frames_sampled"] == 8


class _BorderFlow:
    """A flow backend stand-in whose flow is large only in the padded border."""
    weights_id = None
    identity = "border-flow"

    def flow(self, video):
        f = np.zeros((video.num_frames - 1, video.height, video.width, 2), np.float32)
        f[:, :3] = 100.0  # 122 rows pad to 128: 3 on top
        return f


def test_vbench_compat_keeps_the_padded_border():
    video = Video(np.zeros((3, 122, 160, 3), np.uint8), 8.0)         # 122 → padded to 128
    ctx = FeatureContext()
    compat = DynamicDegree(backend="dis").score_video(video, ctx, _BorderFlow())
    exact = DynamicDegree(backend="dis", vbench_compat=False).score_video(video, FeatureContext(), _BorderFlow())
    assert compat.details["flow_size"] == [128, 160] and exact.details["flow_size"] == [122, 160]
    assert compat.details["pair_scores"][0] > 0 and exact.details["pair_scores"][0] == 0.0


def test_a_one_frame_sampled_video_is_false_as_in_vbench_and_an_error_without_compat():
    from evalkit.errors import InvalidInputError

    # VBench check_move tests its count inside the loop over pair scores: none -> False,
    # even though count_num = round(4·1/16) = 0 (where any pair at all makes a video dynamic)
    assert not is_dynamic([], thres=3.0, count_num=0) and is_dynamic([0.0], thres=3.0, count_num=0)
    video = Video(render(SyntheticSpec("fast", num_frames=3)).video.frames, 24.0, "three.mp4")  # step 3
    res = _dd(video)
    assert res.value == 0.0 and res.details["frames_sampled"] == 1 and res.details["pair_scores"] == []
    assert "1 frame after sub-sampling" in res.details["notes"][0]
    with pytest.raises(InvalidInputError, match="three.mp4.*≥ 2 frames after sub-sampling"):
        _dd(video, vbench_compat=False)
