"""Case ids are relative paths: ``blackswan/subject`` names ``<folder>/blackswan/subject.mp4`` in
an export and in a submission. An id (and every path built from it) must stay inside its folder.

A segment is refused when it is empty, ``.`` or ``..``, starts with a dot (hidden files, and
``..`` spelled any other way), holds a backslash, a colon (a Windows drive) or a control
character; an id is one or more segments joined by ``/``, so it is never absolute.
:func:`confined` resolves symlinks and refuses a path that leaves its folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import InvalidInputError

_BAD_CHARS = re.compile(r"[\\:\x00-\x1f\x7f]")


def segment_problem(segment: str) -> str | None:
    """Why ``segment`` cannot be one component of a path (None when it can)."""
    if not segment:
        return "an empty component"
    if segment.startswith("."):
        return f"component {segment!r} starts with a dot"
    if "/" in segment:
        return f"component {segment!r} holds '/'"
    if _BAD_CHARS.search(segment):
        return f"component {segment!r} holds a backslash, a colon or a control character"
    if segment != segment.strip():
        return f"component {segment!r} has surrounding spaces"
    return None


def id_problem(case_id: str) -> str | None:
    """Why ``case_id`` cannot name files under a folder (None when it can)."""
    if not isinstance(case_id, str) or not case_id:
        return "an empty id"
    return next((p for s in case_id.split("/") if (p := segment_problem(s))), None)


def check_id_segment(segment: str, what: str = "id") -> str:
    """``segment`` when it can be one path component (an item's id in a manifest), else ValueError
    (pydantic turns it into the manifest problem naming the entry)."""
    problem = segment_problem(segment)
    if problem:
        raise ValueError(f"{what} {segment!r} cannot name a file: {problem} (letters, digits, - _ . +, no "
                         f"leading dot, no path separators)")
    return segment


def check_case_id(case_id: str) -> str:
    problem = id_problem(case_id)
    if problem:
        raise InvalidInputError(f"case id {case_id!r} cannot name a file: {problem} (ids are relative paths "
                                f"such as blackswan/subject: no '..', no leading dot, no absolute path)")
    return case_id


def confined(root: str | os.PathLike, path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` (built under ``root``, e.g. ``root / case_id``) with its symlinks resolved,
    refused when it lies outside ``root`` or its symlinks loop."""
    base, target = Path(root), Path(path)
    try:
        real_root, real = base.resolve(), target.resolve()
    except (RuntimeError, OSError) as exc:   # a symlink loop (RuntimeError before Python 3.13)
        raise InvalidInputError(f"{target}: cannot resolve the {what} ({' '.join(str(exc).split())})") from None
    if real != real_root and real_root not in real.parents:
        raise InvalidInputError(f"{target}: the {what} resolves to {real}, outside {real_root}")
    return real
