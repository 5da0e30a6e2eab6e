"""Typed rows of the results store: a dataclass's fields are its table's columns, in order.

The runner builds these rows, the store derives its ``CREATE TABLE``, its inserts and the
columns of its views from them, and reports read the same names back: one definition, no
column lists kept in step by hand.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL"}


class Row:
    """Mixin: the columns, their SQL types and the values of a row dataclass."""
    #: the columns that identify a row (the table's primary key): a new row replaces an old one
    KEY: ClassVar[tuple[str, ...]]

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def sql_columns(cls) -> str:
        hints = typing.get_type_hints(cls)
        return ", ".join(f"{name} {_SQL_TYPES[hints[name]]}" for name in cls.columns())

    def values(self) -> tuple[Any, ...]:
        return dataclasses.astuple(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class ResultRow(Row):
    """One run × case × generator × seed × metric: what was asked and where its value is cached."""
    run_id: str
    case_id: str
    case_kind: str
    category: str
    case_hash: str          # the case's content hash: what reports match items on across runs
    generator: str          # label: name[options that differ from the defaults]
    generator_config: str   # JSON of the generator's full config (with its version)
    seed: int
    metric: str             # column: name[backend]
    metric_name: str
    backend: str
    metric_config: str      # JSON of the metric's full config (with version and backend)
    generation_key: str
    metric_key: str         # "" when the generation failed: there is no value to point at

    KEY: ClassVar[tuple[str, ...]] = ("run_id", "case_id", "generator", "seed", "metric")


@dataclass(frozen=True)
class LoadRow(Row):
    """One generator's ``load`` stage in one process of a run (its own stage: never part of a
    generation's inversion, optimization or inference time)."""
    run_id: str
    generator: str          # label, as in ResultRow
    device: str
    shard: str              # "i/n" of the process that loaded it
    status: str             # ok | failed
    seconds: float          # wall seconds, CUDA-synchronised on GPU
    error: str              # the reason, when failed
    process: str            # host:pid, for the record

    KEY: ClassVar[tuple[str, ...]] = ("run_id", "generator", "device", "shard")
