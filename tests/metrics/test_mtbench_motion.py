"""motion-fidelity[protocol=mtbench]: known answers from MTBench's definition, and the released
``evaluation.py`` values on shared random tracks (tests/metrics/data/mtbench_released/)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.cases import FileMasks, Generation, InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.errors import EvalkitError, InvalidInputError  # noqa: E402
from evalkit.features.base import FeatureContext  # noqa: E402
from evalkit.features.tracking import Tracks, mask_box  # noqa: E402
from evalkit.metrics.motion_fidelity import MotionFidelity  # noqa: E402
from evalkit.metrics.mtbench_motion import (  # noqa: E402
    cosine_similarity,
    frechet_similarity,
    hybrid_track_ids,
    match_frames,
    mtbench_motion_fidelity,
    normalise,
)
from evalkit.synthetic import SyntheticSpec, render  # noqa: E402
from evalkit.testing.contexts import FixedBackendContext  # noqa: E402

from .mtbench_tracks import CASES, random_tracks  # noqa: E402

RELEASED = Path(__file__).parent / "data" / "mtbench_released" / "values.json"


def _track(start, step, t=5):
    return np.asarray(start, np.float32) + np.arange(t, dtype=np.float32)[:, None] * np.asarray(step, np.float32)


def test_known_answers_from_the_definition():
    right = np.stack([_track([0.3, 0.4], [0.01, 0])])          # (1, 5, 2); |start| = 0.5
    left = np.stack([_track([0.3, 0.4], [-0.01, 0])])
    assert mtbench_motion_fidelity(right, right)[0] == pytest.approx(1.0)
    # [start, 4 steps]: the start matches (cos 1), each reversed step gives -1: (1 - 4) / 5
    assert mtbench_motion_fidelity(left, right)[0] == pytest.approx(-3 / 5)
    # the start is part of the vector sequence: same motion from another place is not 1
    other = np.stack([_track([0.4, -0.3], [0.01, 0])])       # start orthogonal to (0.3, 0.4)
    assert mtbench_motion_fidelity(other, right)[0] == pytest.approx(4 / 5)
    # max over source tracks, mean over generated tracks
    cos, _ = cosine_similarity(np.concatenate([right, left]), np.concatenate([left, right]))
    assert cos.shape == (2, 2) and cos.max(axis=1) == pytest.approx([1.0, 1.0])


def test_frames_matched_by_truncated_linspace_on_the_longer_array():
    long = torch.arange(9, dtype=torch.float32)[None, :, None].repeat(1, 1, 2)
    short = torch.zeros(1, 5, 2)
    a, b = match_frames(long, short)
    assert a[0, :, 0].tolist() == [0, 2, 4, 6, 8] and b.shape == short.shape
    a, b = match_frames(short, torch.arange(7, dtype=torch.float32)[None, :, None].repeat(1, 1, 2))
    assert b[0, :, 0].tolist() == [0, 1, 3, 4, 6]  # linspace(0, 6, 5) = 0, 1.5, 3, 4.5, 6 → int32 truncates


def test_normalised_by_width_and_height():
    pts = np.array([[[720.0, 480.0], [360.0, 120.0]]])
    assert normalise(pts, 480, 720).tolist() == [[[1.0, 1.0], [0.5, 0.25]]]


def test_frechet_similarity_is_one_over_one_plus_mean_pairwise_distance():
    at_origin = np.zeros((1, 3, 2), np.float32)
    at_3_4 = np.tile(np.float32([3, 4]), (1, 3, 1))
    assert frechet_similarity(at_origin, at_3_4)[0, 0] == pytest.approx(1 / 6)
    # every pair of times counts, not only equal times: a track against itself is not 1
    moving = np.stack([_track([0, 0], [1, 0], t=3)])          # points 0, 1, 2 on a line
    mean_distance = np.mean([abs(i - j) for i in range(3) for j in range(3)])
    assert frechet_similarity(moving, moving)[0, 0] == pytest.approx(1 / (1 + mean_distance))


def test_hybrid_draw_is_seeded_and_equals_the_global_draw_after_manual_seed():
    ids = hybrid_track_ids(300, 7)
    assert len(ids) == 50 and ids.max() < 300
    assert np.array_equal(ids, hybrid_track_ids(300, 7)) and not np.array_equal(ids, hybrid_track_ids(300, 8))
    torch.manual_seed(7)
    assert np.array_equal(ids, torch.randint(0, 300, size=(50,)).numpy())
    source, generated = (normalise(t.transpose(1, 0, 2), 480, 720) for t in random_tracks(0, 9, 9, (480, 720),
                                                                                          (480, 720), 60))
    value, details = mtbench_motion_fidelity(generated, source, hybrid=True, seed=7)
    assert details["hybrid_seed"] == 7 and value == pytest.approx(0.5 * details["cosine"]
                                                                  + 0.5 * details["frechet_similarity"])
    with pytest.raises(InvalidInputError, match="same track indices"):
        mtbench_motion_fidelity(generated[:50], source, hybrid=True)


def test_a_point_that_does_not_move_is_cosine_zero_and_counted():
    still = np.stack([_track([0.3, 0.4], [0, 0])])
    value, details = mtbench_motion_fidelity(still, np.stack([_track([0.3, 0.4], [0.01, 0])]))
    assert value == pytest.approx(1 / 5) and details["zero_length_vectors"] == 4  # the release: NaN


def test_equals_the_released_evaluation_py_on_shared_random_tracks(shared_data):
    fixture = json.loads(RELEASED.read_text())
    assert fixture["reference"].startswith("Shi-qingyu/DeT@2a2f4dd")
    mask = np.asarray(FileMasks(shared_data / fixture["mask"]).load()[0], bool)
    differences = []
    for (seed, ts, tg, ss, gs, n), released in zip(CASES, fixture["cases"]):
        assert released["seed"] == seed and released["grid_size"] == 50
        source, generated = random_tracks(seed, ts, tg, ss, gs, n)
        p = normalise(source.transpose(1, 0, 2), *ss)
        q = normalise(generated.transpose(1, 0, 2), *gs)
        differences.append(abs(mtbench_motion_fidelity(q, p)[0] - released["cosine"]))
        for k in (0, 7):
            differences.append(abs(mtbench_motion_fidelity(q, p, hybrid=True, seed=k)[0]
                                   - released[f"hybrid_seed{k}"]))
        # the box the release hands CoTracker: rows ymin:ymax, columns xmin:xmax, max excluded
        ys, xs = np.nonzero(mask_box(mask))
        assert [ys.min(), ys.max(), xs.min(), xs.max()] == released["box"]
    assert max(differences) < 1e-12, differences  # measured 2.2e-16: docs/metrics/fidelity.md


class RecordingTracker:
    """A tracker stand-in: a slow rightward drift of the grid, recording each call's mask size."""
    weights_id = None
    identity = "recording-tracker"
    masks_any_size = True

    def __init__(self):
        self.calls = []

    def track(self, videos, *, grid_size=55, mask=None, queries=None):
        from evalkit.features.tracking import grid_points, points_in_mask

        out = []
        for v in videos:
            self.calls.append(((v.height, v.width), None if mask is None else mask.shape, grid_size))
            if mask is None:
                start = grid_points(grid_size, v.height, v.width)
            else:  # like CoTracker: one grid relative to the frame, filtered by the mask, in this video's pixels
                start = grid_points(grid_size, *mask.shape)
                start = start[points_in_mask(start, mask)] * [(v.width - 1) / (mask.shape[1] - 1),
                                                              (v.height - 1) / (mask.shape[0] - 1)]
            t = np.arange(v.num_frames, dtype=np.float32)[:, None, None]
            points = start[None] + t * np.float32([0.02 * v.width, 0.01 * v.height])
            out.append(Tracks(points.astype(np.float32), np.ones(points.shape[:2], bool)))
        return out




def test_metric_tracks_each_full_video_in_the_masks_box_at_its_own_size():
    source = render(SyntheticSpec("pan", num_frames=16)).video                      # 128x160
    generated = render(SyntheticSpec("pan", num_frames=12, height=64, width=80, seed=1)).video
    mask = np.zeros((128, 160), bool)
    mask[20:90, 30:120] = True
    case = MotionTransferCase("c", InlineVideo(source), "t", source_mask=_Masks(mask))
    tracker = RecordingTracker()
    metric = MotionFidelity(protocol="mtbench", hybrid=True, hybrid_seed=3)
    assert metric.backend == "cotracker3" and metric.options["grid_size"] == 50
    result = metric(case, Generation((generated,)), FixedBackendContext(tracker))
    # both videos whole, each at its own size, the box at the mask's size (CoTracker resizes it)
    assert tracker.calls == [((128, 160), (128, 160), 50), ((64, 80), (128, 160), 50)]
    assert result.value == pytest.approx(1.0 * 0.5 + 0.5 * result.details["frechet_similarity"])
    assert result.details["hybrid_seed"] == 3 and result.details["cosine"] == pytest.approx(1.0)
    assert result.details["time_alignment"]["protocol"] == "mtbench"
    no_mask = MotionTransferCase("c", InlineVideo(source), "t")
    res = MotionFidelity(protocol="mtbench")(no_mask, Generation((generated,)), FixedBackendContext(RecordingTracker()))
    assert any("no first-frame mask" in n for n in res.details["notes"])


class _Masks:
    def __init__(self, mask):
        self.mask = mask

    def load(self):
        return self.mask[None]

    def fingerprint(self):
        return "test-mask"


def test_options_hybrid_belongs_to_mtbench_and_leaves_other_cache_keys_alone():
    plain = MotionFidelity(backend="klt")
    assert "hybrid" not in plain.config and "hybrid_seed" not in plain.config
    assert "hybrid" not in MotionFidelity(protocol="mtbench", backend="klt").config
    assert MotionFidelity(protocol="mtbench", backend="klt", hybrid=True).config["hybrid_seed"] == 0
    with pytest.raises(EvalkitError, match="belong to protocol=mtbench"):
        MotionFidelity(backend="klt", hybrid=True)
    with pytest.raises(EvalkitError, match="protocol=mtbench fixes.*drop grid_size=55"):
        MotionFidelity(protocol="mtbench", grid_size=55)
    assert MotionFidelity(protocol="mtbench").inputs == ("generated", "source")  # the mask when the case has one


def test_klt_copy_of_a_real_mtbench_source_scores_one(shared_data):
    from evalkit.registry import DATASETS

    case = DATASETS.get("mtbench")(root=shared_data / "mtbench_examples", sequences="dog-agility").cases()[0]
    video = case.source.load().subsample(0, 12, 1)
    case = MotionTransferCase(case.case_id, InlineVideo(video), case.target_prompt, source_mask=case.source_mask)
    result = MotionFidelity(protocol="mtbench", backend="klt")(case, Generation((video,)), FeatureContext())
    assert result.value == pytest.approx(1.0) and result.details["source_tracks"] > 100
