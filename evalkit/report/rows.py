"""Rows of a results table as namedtuples, typed for the type checker.

pandas' stubs type every field of ``DataFrame.itertuples`` as any scalar pandas knows (str,
Timestamp, NAType, ...), while each column of evalkit's tables holds one kind of value (the
store's schema); reading rows through ``rows_of`` says so once instead of at every field.
"""
from __future__ import annotations

from typing import Any, Iterator

import pandas as pd


def rows_of(frame: pd.DataFrame, *, index: bool = False) -> Iterator[Any]:
    """``frame.itertuples(index=index)``: its rows, fields by column name."""
    return iter(frame.itertuples(index=index))
