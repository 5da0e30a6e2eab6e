"""Feature backends: one model (or classical algorithm) behind a batched, device-aware API.

A backend registers itself with ``@FEATURES.register("name")``; ``load_backend`` builds it
once per process for a given (name, device, dtype, options). ``FeatureContext`` is what a
metric receives: it memoises features per (video content hash, backend identity, key), so
every metric of a run that needs DINO features of a video shares one forward pass.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, ClassVar, Hashable

from ..cases import Case
from ..configurable import Configurable
from ..registry import FEATURES
from ..video import Video


class FeatureBackend(Configurable):
    #: exact checkpoint this backend loads (hub id, torch.hub entry), or None when weight-free
    weights_id: ClassVar[str | None] = None

    def __init__(self, device: str = "cpu", dtype: str = "float32", **options: Any) -> None:
        super().__init__(**options)
        self.device = device
        self.dtype = dtype

    @property
    def identity(self) -> str:
        """What determines this backend's numbers (enters feature and metric cache keys)."""
        from ..hashing import stable_hash
        return f"{self.registry_name}:{stable_hash(self.config, self.weights_id, self.dtype)}"


_LOADED: dict[tuple, FeatureBackend] = {}


def load_backend(name: str, device: str = "cpu", dtype: str = "float32", **options: Any) -> FeatureBackend:
    """One instance per process for each distinct configuration; options are completed with
    the backend's defaults first, so naming a default explicitly or not shares one model."""
    cls = FEATURES.get(name)
    full = {**cls.defaults, **options}
    key = (name, device, dtype, tuple(sorted(full.items(), key=lambda kv: kv[0])))
    if key not in _LOADED:
        _LOADED[key] = cls(device=device, dtype=dtype, **options)
    return _LOADED[key]


class FeatureContext:
    """Per-run services for metrics: device, backend loading, shared feature memo, source loading."""

    def __init__(self, device: str = "cpu", dtype: str = "float32", max_items: int = 256) -> None:
        self.device = device
        self.dtype = dtype
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()
        self._max_items = max_items
        self.hits = 0
        self.misses = 0

    def backend(self, name: str, **options: Any) -> FeatureBackend:
        return load_backend(name, self.device, self.dtype, **options)

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key in self._memo:
            self.hits += 1
            self._memo.move_to_end(key)
            return self._memo[key]
        self.misses += 1
        value = compute()
        self._memo[key] = value
        if len(self._memo) > self._max_items:
            self._memo.popitem(last=False)
        return value

    def features(self, backend: FeatureBackend, video: Video, what: str,
                 compute: Callable[[], Any]) -> Any:
        """Memoised ``compute()`` of feature ``what`` of ``video`` by ``backend``."""
        return self.cached(("feat", video.fingerprint(), backend.identity, what), compute)

    def source_video(self, case: Case) -> Video:
        src = getattr(case, "source", None)
        if src is None:
            from ..errors import InvalidInputError
            raise InvalidInputError(f"{case.case_id}: case has no source video")
        return self.cached(("source", src.fingerprint()), src.load)
