"""Feature backends: one model (or classical algorithm) behind a batched, device-aware API.

A backend registers itself with ``@FEATURES.register("name")``; ``load_backend`` builds it
once per process for a given (name, device, dtype, options). ``FeatureContext`` is what a
metric receives: it memoises features per (video content hash, backend identity, key), so
every metric of a run that needs DINO features of a video shares one forward pass, and it
batches features of many items into one pass (``collecting``/``flush``).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator, Sequence

from ..cases import Case
from ..configurable import Configurable
from ..registry import FEATURES
from ..video import Video


class FeatureBackend(Configurable):
    #: exact checkpoint this backend loads (hub id, torch.hub entry), or None when weight-free;
    #: a class default that an instance may refine (the checkpoint its options or model pick)
    weights_id: str | None = None
    def __init__(self, device: str = "cpu", dtype: str = "float32", **options: Any) -> None:
        super().__init__(**options)
        self.device = device
        self.dtype = dtype

    @property
    def takes_device_frames(self) -> bool:
        """Whether it reads uint8 frames on its device (FeatureContext.device_frames) or host
        arrays; a backend sets it as a class attribute, or computes it from its options."""
        return False

    @property
    def identity(self) -> str:
        """What determines this backend's numbers (enters feature and metric cache keys)."""
        from ..hashing import stable_hash
        return f"{self.registry_name}:{stable_hash(self.config, self.weights_id, self.dtype)}"


_LOADED: dict[tuple, FeatureBackend] = {}
_LOADING: dict[tuple, Future] = {}     # loads under way (a preload thread's), awaited, not repeated
_LOAD_LOCK = threading.Lock()
_LOAD_SECONDS: dict[str, float] = {}   # "name[dtype]" -> seconds spent constructing (loading) it


def load_backend(name: str, device: str = "cpu", dtype: str = "float32", **options: Any) -> FeatureBackend:
    """One instance per process for each distinct configuration; options are completed with
    the backend's defaults first, so naming a default explicitly or not shares one model. A
    thread asking for a model another thread is loading waits for that load."""
    cls = FEATURES.get(name)
    full = {**cls.defaults, **options}
    key = (name, device, dtype, tuple(sorted(full.items(), key=lambda kv: kv[0])))
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        loading = _LOADING.get(key)
        if loading is None:
            loading = _LOADING[key] = Future()
            mine = True
        else:
            mine = False
    if not mine:
        return loading.result()
    try:
        t0 = time.perf_counter()
        backend = cls(device=device, dtype=dtype, **options)
        label = f"{name}[{dtype}]"
        with _LOAD_LOCK:
            _LOADED[key] = backend
            _LOAD_SECONDS[label] = _LOAD_SECONDS.get(label, 0.0) + time.perf_counter() - t0
    except BaseException as exc:
        loading.set_exception(exc)
        raise
    finally:
        with _LOAD_LOCK:
            _LOADING.pop(key, None)
    loading.set_result(backend)
    return backend


def loaded_backends() -> frozenset[tuple]:
    """The (name, device, dtype, options) keys of the backends this process holds."""
    with _LOAD_LOCK:
        return frozenset(_LOADED)


def unload_backends() -> None:
    """Forget every loaded backend (the next ``load_backend`` loads afresh): tests use it so that
    each sees its own weights cache; a long-lived process may use it to free memory."""
    with _LOAD_LOCK:
        _LOADED.clear()


def backend_load_seconds() -> dict[str, float]:
    """Seconds this process spent loading each backend so far (a run reports its own share as
    the difference of two calls: a backend loaded by an earlier run in the process is reused)."""
    return dict(_LOAD_SECONDS)


class FeatureDeferred(BaseException):
    """Raised by ``FeatureContext.features`` while collecting: the feature was queued for a
    batched pass. A BaseException, so a metric's own ``except Exception`` cannot swallow it."""


def call_batched(ctx: "FeatureContext", calls: Sequence[Callable[[], Any]],
                 max_rounds: int = 4) -> list[tuple[bool, Any]]:
    """Run ``calls`` (thunks that read features through ``ctx``) so that their batchable
    features are computed together: each round runs every pending call while collecting (a
    call stops at its first missing feature), then flushes the queue; after ``max_rounds``
    the rest run plainly. Returns per call (True, value) or (False, the exception raised)."""
    outcomes: list[tuple[bool, Any] | None] = [None] * len(calls)

    def attempt(i: int) -> None:
        try:
            outcomes[i] = (True, calls[i]())
        except Exception as exc:  # the call's own failure, recorded by the caller
            outcomes[i] = (False, exc)

    pending = list(range(len(calls)))
    for _ in range(max_rounds):
        deferred = []
        with ctx.collecting():
            for i in pending:
                try:
                    attempt(i)
                except FeatureDeferred:
                    deferred.append(i)
        pending = deferred
        if not pending:
            break
        ctx.flush()
    for i in pending:
        attempt(i)
    return outcomes  # type: ignore[return-value]


class FeatureContext:
    """Per-run services for metrics: device, backend loading, shared feature memo, source
    loading, and the frames of recent videos on the device (uploaded once for all backends).

    Batching across items: inside ``collecting()``, a feature that is not memoised yet and
    that its caller can compute for many videos at once (``batch``) is queued and
    ``FeatureDeferred`` raised instead; ``flush()`` then computes the queue with one batched
    call per (backend, feature), and the metric, called again, finds it memoised. The runner
    does this over a window of items, so one forward pass serves many videos.
    """

    def __init__(self, device: str = "cpu", dtype: str = "float32", max_items: int = 256,
                 frame_bytes: int = 8 << 30, disk=None) -> None:
        """``disk``: a FeatureDisk where features of source videos are shared across processes."""
        from .frames import DeviceFrames

        self.device = device
        self.dtype = dtype
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()
        self._max_items = max_items
        self._lock = threading.Lock()
        self._running: dict[Hashable, Future] = {}   # keys being computed, by another thread perhaps
        self._frames = DeviceFrames(device, frame_bytes)
        self._collector: int | None = None   # the thread collecting (others compute as they ask)
        self._pending: dict[tuple, tuple[Callable, dict[Hashable, tuple[Video, FeatureBackend]]]] = {}
        self._unbatched: set[Hashable] = set()  # keys whose batched pass failed: computed alone
        self._disk = disk
        self._sources: set[str] = set()          # fingerprints of source videos (their features go to disk)
        self._revisions: dict[str, str] = {}     # backend identity -> weights revision on disk
        self.hits = 0
        self.misses = 0
        self.batched_calls = 0

    def backend(self, name: str, dtype: str | None = None, **options: Any) -> FeatureBackend:
        """The process's instance of backend ``name`` on this device, in ``dtype`` (default: the context's)."""
        return load_backend(name, self.device, dtype or self.dtype, **options)

    def preload(self, loads: Sequence[tuple[str, dict[str, Any]]]) -> threading.Thread:
        """Load these (backend, options) in a background thread, in order, while the first items
        are prepared; a metric asking for one meanwhile waits for its load. A load that fails
        here is left to the metric that needs it, which fails its own items with the reason."""
        def run() -> None:
            for name, options in dict.fromkeys((n, tuple(sorted(o.items()))) for n, o in loads):
                try:
                    self.backend(name, **dict(options))
                except Exception:  # noqa: BLE001 - raised again, and recorded, where it is needed
                    continue
        thread = threading.Thread(target=run, name="evalkit-preload", daemon=True)
        thread.start()
        return thread

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key (the runner's worker threads asking for one source at the
        same time wait for the first one's result instead of decoding it again)."""
        with self._lock:
            if key in self._memo:
                self.hits += 1
                self._memo.move_to_end(key)
                return self._memo[key]
            running = self._running.get(key)
            if running is None:
                self.misses += 1
                running = self._running[key] = Future()
                mine = True
            else:
                mine = False
        if not mine:
            return running.result()
        try:
            value = compute()
        except BaseException as exc:
            running.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._running.pop(key, None)
        self._store(key, value)
        running.set_result(value)
        return value

    def _store(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._memo[key] = value
            if len(self._memo) > self._max_items:
                self._memo.popitem(last=False)

    def features(self, backend: FeatureBackend, video: Video, what: str, compute: Callable[[], Any],
                 batch: Callable[[list[Video]], list[Any]] | None = None) -> Any:
        """Memoised ``compute()`` of feature ``what`` of ``video`` by ``backend``; ``batch(videos)``
        computes the same feature of several videos in one call (deferred while collecting)."""
        key = ("feat", video.fingerprint(), backend.identity, what)
        shared = self._disk is not None and video.fingerprint() in self._sources
        with self._lock:
            known = key in self._memo
        if not known and shared:
            found, value = self._disk.get(key, self._revision(backend))
            if found:
                self._store(key, value)
                known = True
        if self._collector == threading.get_ident() and batch is not None and key not in self._unbatched and not known:
            group = self._pending.setdefault((backend.identity, what), (batch, {}))
            group[1][key] = (video, backend)
            raise FeatureDeferred(key)
        return self.cached(key, compute if not shared else lambda: self._to_disk(key, backend, compute()))

    def _revision(self, backend: FeatureBackend) -> str:
        if backend.identity not in self._revisions:
            from ..weights import weights_revision
            self._revisions[backend.identity] = weights_revision(backend.weights_id)
        return self._revisions[backend.identity]

    def _to_disk(self, key: Hashable, backend: FeatureBackend, value: Any) -> Any:
        self._disk.put(key, value, self._revision(backend))
        return value

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Queue missing batchable features instead of computing them (see the class doc). Only
        the calling thread collects: metrics measured meanwhile on other threads (host metrics,
        evalkit.run.items) compute what they ask for."""
        self._collector = threading.get_ident()
        try:
            yield
        finally:
            self._collector = None

    def flush(self) -> int:
        """Compute every queued feature, one batched call per (backend, feature); the number
        of features computed. A batch that fails leaves its videos to be computed one by one
        (the failing video then fails its own item with its own error)."""
        pending, self._pending = self._pending, {}
        done = 0
        for batch, queued in pending.values():
            keys = list(queued)
            try:
                values = batch([video for video, _ in queued.values()])
            except Exception:  # noqa: BLE001 - each video is retried alone and fails on its own
                self._unbatched.update(keys)
                continue
            self.batched_calls += 1
            for key, value, (video, backend) in zip(keys, values, queued.values()):
                self._store(key, value)
                if self._disk is not None and video.fingerprint() in self._sources:
                    self._to_disk(key, backend, value)
                done += 1
        return done

    def device_frames(self, video: Video):
        """``video``'s uint8 frames on this context's device, uploaded once for all backends."""
        return self._frames.get(video)

    def prefetch(self, video: Video) -> None:
        """Start uploading ``video``'s frames (safe from a worker thread)."""
        self._frames.prefetch(video)

    def frames_for(self, backend: FeatureBackend, video: Video):
        """What ``backend`` reads: device frames if it preprocesses on the device, else host frames."""
        return self.device_frames(video) if getattr(backend, "takes_device_frames", False) else video.frames

    @property
    def uploads(self) -> int:
        return self._frames.uploads

    def source_video(self, case: Case) -> Video:
        src = getattr(case, "source", None)
        if src is None:
            from ..errors import InvalidInputError
            raise InvalidInputError(f"{case.case_id}: case has no source video")
        return self.load_source(src)

    def load_source(self, source) -> Video:
        """A source video, decoded or rendered once per context; its features are shared on disk."""
        source = source.inner if isinstance(source, SharedSource) else source
        video = self.cached(("source", source.fingerprint()), source.load)
        self._sources.add(video.fingerprint())
        return video


@dataclass(frozen=True)
class SharedSource:
    """A case's source whose loads go through a FeatureContext: decoded or rendered once per
    run and shared by the generators that read it and the metrics. Its fingerprint is the
    source's, so the case's content hash (and every cache key) is unchanged."""
    inner: Any
    ctx: FeatureContext = field(repr=False, compare=False)

    def load(self) -> Video:
        return self.ctx.load_source(self.inner)

    def fingerprint(self) -> str:
        return self.inner.fingerprint()


def share_source(case: Case, ctx: FeatureContext) -> Case:
    """``case`` with its source (if it has one) loaded through ``ctx``."""
    src = getattr(case, "source", None)
    if src is None or isinstance(src, SharedSource) or not dataclasses.is_dataclass(case):
        return case
    return dataclasses.replace(case, source=SharedSource(src, ctx))
