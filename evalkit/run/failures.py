"""Why an item failed, and whether the failure belongs to the item or to the environment.

Item errors (a corrupt video, an empty mask, a metric that cannot be computed on this input)
are deterministic: the store caches them and only ``--retry-failed`` recomputes them.
Environment errors (missing weights or data, a full disk, out of memory) say nothing about
the item: they are recorded, so reports show why the item has no value, but never cached, so
the next run retries them. An interruption (Ctrl-C, SIGTERM) is not recorded against any item.
"""
from __future__ import annotations

import errno
import traceback
from pathlib import Path

from ..errors import EvalkitError, MissingDataError, MissingDependencyError, MissingWeightsError

ITEM, ENVIRONMENT = "item", "environment"
#: store status of a failure of each class (``failed`` is cached; ``env-failed`` is retried)
STATUS = {ITEM: "failed", ENVIRONMENT: "env-failed"}

_ENV_ERRORS = (MissingWeightsError, MissingDataError, MissingDependencyError, MemoryError, FileNotFoundError)
_ENV_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.ENOENT, errno.EROFS, errno.EACCES}


def failure_reason(exc: BaseException) -> str:
    """An EvalkitError's own message; anything else with its type and where it was raised."""
    if isinstance(exc, EvalkitError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def failure_class(exc: BaseException) -> str:
    """ENVIRONMENT for missing weights or data, a full or read-only disk, out of (GPU) memory;
    ITEM for everything else."""
    if isinstance(exc, _ENV_ERRORS):
        return ENVIRONMENT
    if isinstance(exc, OSError) and exc.errno in _ENV_ERRNOS:
        return ENVIRONMENT
    # torch.cuda.OutOfMemoryError (and older CUDA OOMs raised as RuntimeError), without importing torch
    if type(exc).__name__ == "OutOfMemoryError" or (isinstance(exc, RuntimeError)
                                                     and "out of memory" in str(exc).lower()):
        return ENVIRONMENT
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return failure_class(cause) if cause is not None and cause is not exc else ITEM
