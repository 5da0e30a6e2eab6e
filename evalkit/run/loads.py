"""The ``load`` stage: each generator is loaded once per process, before its first generation.

Loading (weights, pipelines) is timed on its own, CUDA-synchronised on GPU, and recorded per
run × generator × device × shard in the store's ``loads`` table; it is never part of a
generation's inversion, optimization or inference time. A generator whose generations are all
cached is not loaded at all. When a load fails, every generation of that generator in this
process fails with the load's reason, and the run goes on with the other generators; such
failures say nothing about the items, so the next run retries them without ``--retry-failed``.
"""
from __future__ import annotations

import os
import socket

from ..generators.base import Generator
from ..timing import stage_timer
from .failures import failure_reason
from .rows import LoadRow
from .store import ResultsStore

#: prefix of the error of a generation that failed because its generator did not load
LOAD_FAILED = "load failed: "


class GeneratorLoads:
    """Loads each generator of a run once in this process and records the load stage."""

    def __init__(self, store: ResultsStore, run_id: str, device: str, shard: str) -> None:
        self._store, self._run_id, self._device, self._shard = store, run_id, device, shard
        self._errors: dict[int, str] = {}   # id(generator) -> "" (loaded) or the failure reason
        self.seconds: dict[str, float] = {}  # label -> load seconds, of the loads made here
        self.failures: dict[str, str] = {}   # label -> reason

    def error(self, gen: Generator) -> str:
        """Why ``gen`` failed to load in this process ("" when it loaded or was not tried yet)."""
        return self._errors.get(id(gen), "")

    def ensure(self, gen: Generator) -> str:
        """Load ``gen`` unless this process did already; the load's failure reason, or ""."""
        if id(gen) not in self._errors:
            timing: dict[str, float] = {}
            error = ""
            try:
                with stage_timer(self._device, timing, "load"):
                    gen.load()
            except Exception as exc:  # recorded as the failure of the generator's items
                error = failure_reason(exc)
                self.failures[gen.label()] = error
            self._errors[id(gen)] = error
            seconds = timing.get("load", 0.0)   # 0 when the timer itself failed (e.g. no torch on cuda)
            self.seconds[gen.label()] = seconds
            self._store.put_load(LoadRow(self._run_id, gen.label(), self._device, self._shard,
                                         "failed" if error else "ok", seconds, error,
                                         f"{socket.gethostname()}:{os.getpid()}"))
        return self._errors[id(gen)]
