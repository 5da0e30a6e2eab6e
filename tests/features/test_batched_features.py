"""Features of many videos in one pass: packed frame batches equal one clip at a time, device
frames equal host frames (on the CPU: the same path), and a window of items whose metrics
are collected and flushed gets the values of computing them one by one, with fewer passes."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.cases import Generation, InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.features import base  # noqa: E402
from evalkit.features.base import FeatureContext, FeatureDeferred, call_batched  # noqa: E402
from evalkit.features.frames import DeviceFrames  # noqa: E402
from evalkit.registry import METRICS  # noqa: E402
from evalkit.video import Video  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["facebook/dino-vitb16", "openai/clip-vit-base-patch32"])


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.setattr(base, "_LOADED", {})


def clip(n, h=40, w=56, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name,preprocess", [("dino-vitb16", "vbench-dino"), ("clip-vit-b32", "vbench-clip"),
                                             ("clip-vit-b32", "clip")])
def test_packed_batches_equal_one_clip_at_a_time(name, preprocess):
    # batches of 4 frames over clips of 3, 5 and 2 frames, one of another size: clips span
    # batches, and the odd-sized clip (another preprocessed size without a crop) gets its own
    clips = [clip(3, seed=1), clip(5, seed=2), clip(2, 48, 40, seed=3), clip(2, seed=4)]
    model = base.load_backend(name, batch_size=4, preprocess=preprocess)
    packed = model.embed_videos(clips)
    alone = base.load_backend(name, batch_size=64, preprocess=preprocess)
    for c, got in zip(clips, packed):
        np.testing.assert_allclose(got, alone.embed(c), atol=2e-6)
    assert [len(p) for p in packed] == [3, 5, 2, 2]


def test_device_frames_on_the_cpu_are_views_and_give_the_host_numbers():
    video = Video(clip(4), 8.0)
    frames = DeviceFrames("cpu")
    on_device = frames.get(video)
    assert np.shares_memory(on_device.numpy(), video.frames) and frames.uploads == 0
    ctx = FeatureContext()
    dino = ctx.backend("dino-vitb16")
    pil_clip = ctx.backend("clip-vit-b32", preprocess="clip")
    assert isinstance(ctx.frames_for(pil_clip, video), np.ndarray)  # PIL resizes host arrays
    np.testing.assert_array_equal(dino.embed(ctx.frames_for(dino, video)), dino.embed(video.frames))


def _items(n=2):
    from evalkit.synthetic import SyntheticSpec, render

    items = []
    for i in range(n):
        src = render(SyntheticSpec("translation", num_frames=3, height=48, width=64, seed=i)).video
        gen = render(SyntheticSpec("rotation", num_frames=3, height=48, width=64, seed=10 + i)).video
        items.append((MotionTransferCase(f"c{i}", InlineVideo(src), f"prompt {i}"), Generation((gen,))))
    return items


METRIC_SET = ("subject-consistency", "identity-leakage", "clip-temporal-consistency", "background-consistency")


def test_a_collected_window_gets_the_values_of_one_by_one_in_fewer_passes(monkeypatch):
    from evalkit.features.embedding import FrameEmbedder

    metrics = [METRICS.get(name)() for name in METRIC_SET]
    items = _items()
    plain = [[m(case, gen, FeatureContext()).value for m in metrics] for case, gen in items]

    passes = []
    original = FrameEmbedder.embed_videos
    monkeypatch.setattr(FrameEmbedder, "embed_videos",
                        lambda self, clips: passes.append((self.registry_name, len(clips))) or original(self, clips))
    ctx = FeatureContext()
    calls = [lambda m=m, c=c, g=g: m(c, g, ctx).value for c, g in items for m in metrics]
    outcomes = call_batched(ctx, calls)
    assert all(ok for ok, _ in outcomes)
    np.testing.assert_allclose(np.array([v for _, v in outcomes]).reshape(len(items), -1), plain, atol=2e-6)
    # one DINO pass over the 2 generated + 2 source videos (subject consistency and identity
    # leakage ask in the same round), one CLIP pass over the 2 generated (temporal and
    # background consistency share the vbench-clip features)
    assert sorted(passes) == [("clip-vit-b32", 2), ("dino-vitb16", 4)]
    assert ctx.batched_calls == 2


def test_deferral_passes_through_except_exception_and_a_failed_batch_falls_back_per_video():
    ctx = FeatureContext()
    model = ctx.backend("dino-vitb16")
    good, bad = Video(clip(2), 8.0, "good"), Video(clip(2, seed=9), 8.0, "bad")

    def compute(video):
        if video.origin == "bad":
            raise ValueError("bad video")
        return video.origin

    def feature(video):
        return ctx.features(model, video, "demo", lambda: compute(video),
                            batch=lambda videos: [compute(v) for v in videos])

    def swallowing(video):
        try:
            return feature(video)
        except Exception:  # a metric's own handler must not see the deferral
            return "swallowed"

    outcomes = call_batched(ctx, [lambda: swallowing(good), lambda: feature(bad)])
    assert outcomes[0] == (True, "good")
    assert outcomes[1][0] is False and str(outcomes[1][1]) == "bad video"
    with ctx.collecting(), pytest.raises(FeatureDeferred):
        feature(Video(clip(2, seed=5), 8.0, "new"))
