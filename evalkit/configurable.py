"""Shared by metrics, generators and feature backends: declared option defaults, validated
overrides, and a config dict that enters cache keys."""
from __future__ import annotations

import difflib
from typing import Any, ClassVar, Mapping

from .errors import EvalkitError


class Configurable:
    #: option name -> default value. Where an option takes one of a fixed set of values,
    #: list them in ``choices``.
    defaults: ClassVar[Mapping[str, Any]] = {}
    choices: ClassVar[Mapping[str, tuple]] = {}
    #: bump when a change alters the numbers this component produces (enters cache keys)
    version: ClassVar[str] = "1"
    registry_name: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        unknown = [k for k in options if k not in self.defaults]
        if unknown:
            hints = {k: difflib.get_close_matches(k, self.defaults, n=1) for k in unknown}
            raise EvalkitError(
                f"{self.registry_name or type(self).__name__}: unknown option(s) "
                + ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
                + f"; options are {sorted(self.defaults)}")
        self.options = {**self.defaults, **options}
        for k, allowed in self.choices.items():
            if self.options[k] not in allowed:
                raise EvalkitError(f"{self.registry_name}: option {k}={self.options[k]!r} not in {allowed}")

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "version": self.version, **self.options}

    def label(self, *tags: str) -> str:
        """``name`` or ``name[tag,key=value,...]`` with the options that differ from the defaults:
        how results and reports tell apart two configurations of one plugin (e.g. a sweep)."""
        tags = tuple(t for t in tags if t) + tuple(
            f"{k}={v}" for k, v in sorted(self.options.items()) if v != self.defaults[k])
        return f"{self.registry_name}[{','.join(tags)}]" if tags else self.registry_name
