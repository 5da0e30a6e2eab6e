"""Features of many videos in one pass: packed frame batches equal one clip at a time, device
frames equal host frames (on the CPU: the same path), and a window of items whose metrics
are collected and flushed gets the values of computing them one by one, with fewer passes."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.cases import Generation, InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.features import base  # noqa: E402
from evalkit.features.base import FeatureContext, FeatureDeferred, call_batched, loaded_backends, unload_backends  # noqa: E402  # noqa: E402
from evalkit.features.frames import DeviceFrames  # noqa: E402
from evalkit.registry import METRICS  # noqa: E402
from evalkit.video import Video  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["facebook/dino-vitb16", "openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14"])


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    unload_backends()
    yield
    unload_backends()


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


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_models_a_metric_declares_are_the_ones_it_loads(dtype):
    """The runner preloads ``backend_loads()`` while the first items are prepared: it must name
    exactly the (backend, dtype, options) the metric then asks for, or a model loads twice."""
    for name in METRIC_SET + ("aesthetic-quality", "clip-text", "clip-score"):
        options = {"dtype": dtype} | ({"head": _random_head()} if name == "aesthetic-quality" else {})
        metric = METRICS.get(name)(**options)
        unload_backends()
        case, gen = _items(1)[0]
        metric(case, gen, FeatureContext())
        loaded = loaded_backends()
        unload_backends()
        ctx = FeatureContext()
        for backend, opts in metric.backend_loads():
            ctx.backend(backend, **opts)
        assert loaded_backends() == loaded, name


def _random_head():
    import tempfile

    path = tempfile.mkdtemp() + "/head.pth"
    width = FeatureContext().backend("clip-vit-l14").model.config.projection_dim   # the tiny model's
    torch.save(torch.nn.Linear(width, 1).state_dict(), path)
    return path


def test_a_preloaded_model_is_loaded_once_by_whoever_asks_first():
    import threading
    import time

    from evalkit.features.dino import DinoViTB16

    started, calls = threading.Event(), []
    original = DinoViTB16.__init__

    def slow_init(self, *args, **kwargs):
        calls.append(threading.get_ident())
        started.set()
        time.sleep(0.3)
        original(self, *args, **kwargs)

    DinoViTB16.__init__ = slow_init
    try:
        ctx = FeatureContext()
        thread = ctx.preload([("dino-vitb16", {"dtype": "float32"}), ("no-such-backend", {})])
        assert started.wait(10)
        model = ctx.backend("dino-vitb16")   # waits for the preload thread's load
        thread.join(10)
    finally:
        DinoViTB16.__init__ = original
    assert len(calls) == 1 and calls[0] != threading.get_ident() and isinstance(model, DinoViTB16)
    assert not thread.is_alive()   # an unknown backend is left to the metric that asks for it


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


def test_only_the_collecting_thread_defers_others_compute_what_they_ask():
    """Host metrics run on CPU threads while the device thread collects a window: their
    features are computed for them, never queued behind a flush they do not wait for."""
    from concurrent.futures import ThreadPoolExecutor

    ctx = FeatureContext()
    model = ctx.backend("dino-vitb16")
    video = Video(clip(2, seed=3), 8.0, "other thread")

    def feature():
        return ctx.features(model, video, "demo", lambda: "computed", batch=lambda videos: ["batched"] * len(videos))

    with ctx.collecting(), ThreadPoolExecutor(1) as pool:
        assert pool.submit(feature).result() == "computed"
        with pytest.raises(FeatureDeferred):
            ctx.features(model, Video(clip(2, seed=4), 8.0, "mine"), "demo", lambda: "x", batch=lambda v: ["y"] * len(v))


def test_threads_asking_for_one_key_compute_it_once():
    import threading
    import time

    ctx, calls, results = FeatureContext(), [], []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "video"

    threads = [threading.Thread(target=lambda: results.append(ctx.cached(("source", "s"), slow))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and results == ["video"] * 3 and ctx.misses == 1
