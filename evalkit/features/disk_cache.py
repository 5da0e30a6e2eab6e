"""Features of source videos on disk, shared by every process that runs on one store.

A case's source is scored against every generator, seed and shard: its tracks, flows and
embeddings are computed by the first process that needs them and read back by the others
(``--shard i/n`` processes, ``--devices`` workers, a later run that adds a generator). Files
are ``<folder>/<key>.npz``, written atomically (a temporary file renamed), arrays and a JSON
structure only: nothing is unpickled. The key is the feature's memo key plus the weights
revision on disk (random test weights and real weights under one hub id never share a file).

Values that are not arrays, Tracks, numbers, strings or lists/tuples/dicts of them are not
written (``encode`` returns None): they are recomputed, which only costs time.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Hashable

import numpy as np

from ..hashing import stable_hash
from .tracking import Tracks

FORMAT = 1  # bump when the encoding changes


def encode(value: Any, arrays: list[np.ndarray]) -> Any:
    """A JSON-able structure for ``value``, its arrays appended to ``arrays``; None if unsupported."""
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"a": len(arrays) - 1}
    if isinstance(value, Tracks):
        return {"tracks": [encode(value.points, arrays), encode(value.visible, arrays)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"v": value}
    if isinstance(value, (np.integer, np.floating)):
        return {"v": value.item()}
    if isinstance(value, (list, tuple)):
        elements = [encode(v, arrays) for v in value]
        return None if any(i is None for i in elements) else {"t" if isinstance(value, tuple) else "l": elements}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: encode(v, arrays) for k, v in value.items()}
        return None if any(i is None for i in items.values()) else {"d": items}
    return None


def decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    kind, body = next(iter(node.items()))
    if kind == "a":
        return arrays[f"a{body}"]
    if kind == "tracks":
        return Tracks(decode(body[0], arrays), decode(body[1], arrays))
    if kind == "v":
        return body
    if kind in ("l", "t"):
        items = [decode(v, arrays) for v in body]
        return tuple(items) if kind == "t" else items
    return {k: decode(v, arrays) for k, v in body.items()}


class FeatureDisk:
    """``get``/``put`` of feature values by memo key under ``folder``."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.reads = self.writes = 0

    def _path(self, key: Hashable, weights_revision: str) -> Path:
        return self.folder / f"{stable_hash('feature', FORMAT, key, weights_revision, length=24)}.npz"

    def get(self, key: Hashable, weights_revision: str = "") -> tuple[bool, Any]:
        path = self._path(key, weights_revision)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            value = decode(json.loads(str(arrays.pop("structure"))), arrays)
        except (OSError, ValueError, KeyError, StopIteration):  # absent or unreadable: recompute
            return False, None
        self.reads += 1
        return True, value

    def put(self, key: Hashable, value: Any, weights_revision: str = "") -> bool:
        arrays: list[np.ndarray] = []
        structure = encode(value, arrays)
        if structure is None:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=self.folder, prefix=".tmp-")
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:
                # Any: numpy's stubs match **kwds against savez's own allow_pickle: bool too
                named: dict[str, Any] = {f"a{i}": np.asarray(a) for i, a in enumerate(arrays)}
                np.savez(fh, structure=np.str_(json.dumps(structure)), **named)
            os.replace(tmp, self._path(key, weights_revision))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.writes += 1
        return True
