"""The process-wide cache of feature-injection recordings (MbQ and its relatives).

A recording (the source's VAE latents, the recorded steps, the recording's sub-timings and the
feature store) depends only on the source and the recording settings, not on the seed of the
generated video nor (single-step recording) on the injection fraction: it is made once and shared
by every seed and sweep point of a case. Items run case by case, so keeping the latest two is enough.
"""
from __future__ import annotations

from collections import OrderedDict


class RecordingCache:
    """Recordings (source latents, recorded steps, sub-timings, feature store) by recording key,
    the latest ``kept`` of them: items run case by case, so every seed and sweep point of a case
    follows its first and reuses its recording."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._entries: OrderedDict[str, tuple] = OrderedDict()

    def get(self, key: str) -> tuple | None:
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: str, entry: tuple) -> None:
        self._entries[key] = entry
        while len(self._entries) > self.kept:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


#: recordings kept per process
RECORDINGS_KEPT = 2
RECORDINGS = RecordingCache(RECORDINGS_KEPT)


def clear_recordings() -> None:
    """Forget every cached recording of this process (the next run records afresh)."""
    RECORDINGS.clear()
