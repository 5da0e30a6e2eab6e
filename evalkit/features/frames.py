"""Frames on the compute device: uploaded once per video, shared by every backend.

A video's uint8 frames (T, H, W, 3) travel to the device once per run (``DeviceFrames``,
held by the FeatureContext) and every backend that preprocesses on tensors (DINO, CLIP,
CLIPSeg, RAFT, CoTracker) reads them from there: a quarter of the bytes of float frames, and
no second upload for the second backend. On CUDA the host frames are staged in pinned memory
and copied on a side stream; the consuming stream waits on the copy's event, so an upload
started ahead (``prefetch``, called by the runner for the next items) overlaps the GPU work of
the current ones. The least recently used videos are dropped beyond ``max_bytes``. On the CPU
the "upload" is a view of the host array (no copy, nothing kept).
"""
from __future__ import annotations

import threading
import warnings
from collections import OrderedDict, deque
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from ..video import Video

T = TypeVar("T")
R = TypeVar("R")


def host_tensor(frames):
    """A torch view of host uint8 frames (read-only arrays are fine: nothing writes into them)."""
    import torch

    if isinstance(frames, torch.Tensor):
        return frames
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(frames))


def is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


class DeviceFrames:
    """uint8 frames of recently used videos on ``device``, keyed by content fingerprint."""

    def __init__(self, device: str, max_bytes: int = 8 << 30) -> None:
        self.device = device
        self.max_bytes = max_bytes
        self.uploads = 0                 # host -> device copies made (a test checks "once")
        self._held: OrderedDict[str, tuple[Any, Any]] = OrderedDict()  # fingerprint -> (tensor, event)
        self._bytes = 0
        self._lock = threading.Lock()
        self._stream = None

    def prefetch(self, video: Video) -> None:
        """Start the upload of ``video`` (safe from a worker thread); no-op on the CPU."""
        if is_cuda(self.device):
            self._entry(video)

    def get(self, video: Video):
        """uint8 (T, H, W, 3) frames on the device, ready for the current stream."""
        if not is_cuda(self.device):
            return host_tensor(video.frames)
        import torch

        tensor, event = self._entry(video)
        stream = torch.cuda.current_stream(tensor.device)
        stream.wait_event(event)
        tensor.record_stream(stream)  # the allocator must not reuse it while this stream reads
        return tensor

    def _entry(self, video: Video):
        key = video.fingerprint()
        with self._lock:
            if key in self._held:
                self._held.move_to_end(key)
                return self._held[key]
            entry = self._upload(video.frames)
            self._held[key] = entry
            self._bytes += video.frames.nbytes
            while self._bytes > self.max_bytes and len(self._held) > 1:
                _, (old, _) = self._held.popitem(last=False)
                self._bytes -= old.numel()
            return entry

    def _upload(self, frames: np.ndarray):
        import torch

        if self._stream is None:
            self._stream = torch.cuda.Stream(torch.device(self.device))
        self.uploads += 1
        staged = host_tensor(frames).pin_memory()
        with torch.cuda.stream(self._stream):
            tensor = staged.to(self.device, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self._stream)
        return tensor, event


def to_device(frames, device: str):
    """One clip's uint8 frames (host array or tensor) on ``device`` (a pinned, asynchronous
    copy on CUDA; the current stream is ordered after it; frames pinned already, e.g. by
    ``pinned_ahead``, are not copied again on the host)."""
    x = host_tensor(frames)
    if x.device.type != "cpu" or not is_cuda(device):
        return x.to(device)
    return x.pin_memory().to(device, non_blocking=True)


def ahead(items: Iterable[T], prepare: Callable[[T], R], depth: int = 2) -> Iterator[R]:
    """``prepare(item)`` for each item in one background thread, at most ``depth`` items ahead of
    the consumer; results in order (an exception is raised where its item is consumed)."""
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    with ThreadPoolExecutor(1, thread_name_prefix="evalkit-pin") as pool:
        try:
            for item in items:
                pending.append(pool.submit(prepare, item))
                if len(pending) > depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:   # the consumer stopped early: drop what has not started
            for future in pending:
                future.cancel()


def pinned_ahead(clips: Iterable, device: str, depth: int = 2) -> Iterator:
    """Clips for ``to_device``: on CUDA, host frames are copied into pinned memory in a background
    thread while the device works on the clips before them (that host copy, not the transfer,
    is what kept the GPU waiting between clips); device tensors and CPU runs pass unchanged."""
    if not is_cuda(device):
        yield from clips
        return

    def pin(frames):
        x = host_tensor(frames)
        return x.pin_memory() if x.device.type == "cpu" else x

    yield from ahead(clips, pin, depth)


def uploaded(clips: Iterable, device: str) -> Iterator:
    """Each clip's frames on ``device`` (``to_device``), the next ones pinned ahead on CUDA."""
    return (to_device(clip, device) for clip in pinned_ahead(clips, device))
