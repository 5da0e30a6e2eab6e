"""The one-line reason a run records for a failed item (or a failed load)."""
from __future__ import annotations

import traceback
from pathlib import Path

from ..errors import EvalkitError


def failure_reason(exc: BaseException) -> str:
    """An EvalkitError's own message; anything else with its type and where it was raised."""
    if isinstance(exc, EvalkitError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"
