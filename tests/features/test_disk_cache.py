"""Source features on disk: what one process computed, another reads instead of computing;
only sources are written; the weights on disk are part of the key; nothing is unpickled."""
import numpy as np

from evalkit.cases import Generation, InlineVideo, MotionTransferCase
from evalkit.features.base import FeatureContext
from evalkit.features.disk_cache import FeatureDisk, decode, encode
from evalkit.features.tracking import Tracks
from evalkit.registry import METRICS
from evalkit.synthetic import SyntheticSpec, render


def test_values_round_trip_and_unsupported_ones_are_not_written(tmp_path):
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), [0, 2], [(1, "no mask")],
             Tracks(np.zeros((2, 3, 2), np.float32), np.ones((2, 3), bool)), {"k": 1.5, "n": None})
    arrays: list = []
    back = decode(encode(value, arrays), {f"a{i}": a for i, a in enumerate(arrays)})
    assert np.array_equal(back[0], value[0]) and back[1] == [0, 2] and back[2] == [(1, "no mask")]
    assert np.array_equal(back[3].points, value[3].points) and back[4] == {"k": 1.5, "n": None}
    disk = FeatureDisk(tmp_path)
    assert not disk.put(("k",), object()) and disk.writes == 0
    assert disk.put(("k",), value) and disk.get(("k",))[0] and not disk.get(("k",), "other weights")[0]


def test_a_second_process_reads_the_source_tracks_instead_of_tracking(tmp_path, monkeypatch):
    from evalkit.features.klt import KLTTracker

    calls = []
    original = KLTTracker.track
    monkeypatch.setattr(KLTTracker, "track", lambda self, videos, **kw: calls.extend(videos) or original(self, videos, **kw))
    source = render(SyntheticSpec("pan", num_frames=6, height=64, width=80)).video
    generated = render(SyntheticSpec("pan", num_frames=6, height=64, width=80, seed=3)).video
    case = MotionTransferCase("c", InlineVideo(source), "t")
    metric = METRICS.get("motion-fidelity")(backend="klt", grid_size=5)
    first = metric(case, Generation((generated,)), FeatureContext(disk=FeatureDisk(tmp_path)))
    assert len(calls) == 2 and len(list(tmp_path.glob("*.npz"))) == 1  # the source's tracks only
    other = render(SyntheticSpec("pan", num_frames=6, height=64, width=80, seed=4)).video
    second_ctx = FeatureContext(disk=FeatureDisk(tmp_path))  # another shard: a fresh context
    second = metric(case, Generation((generated,)), second_ctx)
    assert second.value == first.value and calls[2:] == [generated]  # the source was read from disk
    metric(case, Generation((other,)), second_ctx)
    assert calls[3:] == [other]
