"""Where one coarse-stage training run lives: ``$EVALKIT_CACHE/lora/<subject>-<key>/``.

The key hashes everything that determines the weights: the reference images' bytes, the subject
token and class noun, the hyper-parameters and the base weights (path or hub id, its revision
and the dtype). Files: ``pytorch_lora_weights.safetensors`` and ``subject_token.safetensors``
(the result), ``training.json`` (hyper-parameters, per-step losses, evaluation losses, timings;
written last, so its presence with ``complete`` means the result is whole), ``loss.png`` (the
loss curve), and while training ``checkpoint.pt`` (written atomically every few steps; deleted
when done). A lock file serialises processes training the same key (one GPU per process).
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError

CACHE_ENV = "EVALKIT_CACHE"


def cache_root() -> Path:
    """``$EVALKIT_CACHE`` or ``~/.cache/evalkit``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "evalkit").expanduser()


@dataclass(frozen=True)
class CoarseArtifact:
    folder: Path

    LORA = "pytorch_lora_weights.safetensors"
    TOKEN = "subject_token.safetensors"
    META = "training.json"
    CHECKPOINT = "checkpoint.pt"
    PLOT = "loss.png"

    @classmethod
    def for_key(cls, subject: str, key: str) -> "CoarseArtifact":
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", subject).strip("_") or "subject"
        return cls(cache_root() / "lora" / f"{slug}-{key[:16]}")

    def path(self, name: str) -> Path:
        return self.folder / name

    def meta(self) -> dict[str, Any] | None:
        f = self.path(self.META)
        if not f.is_file():
            return None
        try:
            return json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise EvalkitError(f"{f}: unreadable training record ({exc}); delete the folder to retrain") from None

    def complete(self) -> bool:
        meta = self.meta()
        return bool(meta and meta.get("complete")) and self.path(self.LORA).is_file()

    def write_json(self, name: str, data: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path(name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path(name))

    @contextmanager
    def lock(self):
        """Exclusive lock on ``<folder>.lock`` (blocks while another process trains this key)."""
        import fcntl

        self.folder.parent.mkdir(parents=True, exist_ok=True)
        with open(self.folder.with_name(self.folder.name + ".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
