"""How many bytes one decoded video may take: decoding checks its allocation up front, so a
video that cannot fit is one clear error (an environment failure) instead of an out-of-memory kill."""
from __future__ import annotations

import os

from .errors import InvalidInputError, MemoryLimitError

#: environment variable: the most bytes one decoded video may take (e.g. 8e9); default: 90 % of
#: the memory available when the read starts
MEMORY_LIMIT_ENV = "EVALKIT_MAX_VIDEO_BYTES"


def memory_limit() -> int:
    """The most bytes one decoded video may take: $EVALKIT_MAX_VIDEO_BYTES, else 90 % of the
    memory available now (no limit where that cannot be read)."""
    raw = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if raw:
        try:
            return int(float(raw))
        except ValueError:
            raise InvalidInputError(f"${MEMORY_LIMIT_ENV}={raw!r}: expected a number of bytes") from None
    available = _available_memory()
    return int(0.9 * available) if available else 2 ** 62


def check_allocation(nbytes: int, what: str) -> None:
    """A MemoryLimitError naming ``what`` when ``nbytes`` exceed the limit."""
    limit = memory_limit()
    if nbytes > limit:
        source = "$" + MEMORY_LIMIT_ENV if os.environ.get(MEMORY_LIMIT_ENV) else "90 % of the memory available"
        raise MemoryLimitError(f"{what} needs {nbytes / 2 ** 30:.2f} GiB, over the limit of {limit / 2 ** 30:.2f} GiB "
                               f"({source}); read a frame range or a smaller resolution, or raise ${MEMORY_LIMIT_ENV}")


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0
