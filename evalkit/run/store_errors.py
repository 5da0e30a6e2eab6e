"""How the results store's failures read: SQLite's errors turned into one line naming the file
and what to do (corrupt, read-only, full disk, locked), and the schema-version error."""
from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

from ..errors import EvalkitError


class StoreVersionError(EvalkitError):
    pass


class StoreError(EvalkitError):
    """A store that cannot be read or written (corrupt, read-only, full disk): one line naming it."""


def named_errors(cls):
    """Every public method turns SQLite's errors into one StoreError naming the file."""
    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                raise StoreError(explain(self.path, exc)) from None
        return guarded

    for name, attr in list(vars(cls).items()):
        if callable(attr) and not name.startswith("_") and name != "transaction":
            setattr(cls, name, wrap(attr))
    return cls


def explain(path: Path, exc: sqlite3.DatabaseError) -> str:
    msg = str(exc)
    if "not a database" in msg:
        return f"{path}: not an evalkit results store ({msg})"
    if "unable to open" in msg:
        return (f"{path}: cannot open the results store ({msg}): is the file or its folder read-only? "
                "Run into a writable --out folder")
    if "readonly" in msg or "read-only" in msg:
        return f"{path}: the results store is read-only ({msg}); run into a writable --out folder"
    if "disk is full" in msg or "disk I/O" in msg:
        return f"{path}: cannot write the results store ({msg}); free disk space and re-run"
    if "locked" in msg or "busy" in msg:
        return f"{path}: the results store is locked by another process ({msg}); try again"
    return (f"{path}: corrupt or unreadable results store ({msg}); run into a new --out folder "
            "(its values are recomputable) or restore the file from a backup")
