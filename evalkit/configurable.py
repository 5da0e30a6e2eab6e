"""Shared by metrics, generators, datasets and feature backends: declared option defaults,
validated overrides, and a config dict that enters cache keys.

Every option is checked when the plan is loaded (:meth:`Configurable.checked_options`), before
anything runs, with one error naming the plugin, the option, the value and what it accepts:

- its type is its default's (``bool``, ``int``, ``float``, ``str``, a tuple or list of
  elements of the first element's type), or the one ``types`` declares where the default is
  ``None``. Values are converted where the meaning is unambiguous (``"0+1+2"`` or ``"0,1,2"``
  to ``(0, 1, 2)``, ``8`` to ``8.0``, ``55.0`` to ``55``, ``"true"`` to ``True``) and refused
  otherwise (``2.7`` for an integer, ``"abc"`` for a number, a non-finite float);
- ``choices`` lists the values an option takes, ``bounds`` the inclusive range of a number.

The converted value is the one keyed and the one used: a cache key never says ``2.7`` for a
computation that used ``2``.
"""
from __future__ import annotations

import difflib
import math
from typing import Any, ClassVar, Mapping

from .errors import EvalkitError

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class Configurable:
    #: option name -> default value. Where an option takes one of a fixed set of values,
    #: list them in ``choices``.
    defaults: ClassVar[Mapping[str, Any]] = {}
    choices: ClassVar[Mapping[str, tuple]] = {}
    #: option -> (low, high): inclusive bounds of a numeric option (None: unbounded on that side)
    bounds: ClassVar[Mapping[str, tuple]] = {}
    #: option -> type (int, float, bool, str, tuple) where the default (None) does not show it
    types: ClassVar[Mapping[str, type]] = {}
    #: options that also take None although their default is a value (None: "off" or "native")
    nullable: ClassVar[tuple[str, ...]] = ()
    #: bump when a change alters the numbers this component produces (enters cache keys)
    version: ClassVar[str] = "1"
    registry_name: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self.options = {**self.defaults, **self.checked_options(options)}

    @classmethod
    def checked_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` validated and converted (see the module doc); an EvalkitError otherwise."""
        name = cls.registry_name or cls.__name__
        unknown = [k for k in options if k not in cls.defaults]
        if unknown:
            hints = {k: difflib.get_close_matches(str(k), list(cls.defaults), n=1) for k in unknown}
            raise EvalkitError(
                f"{name}: unknown option(s) "
                + ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
                + f"; options are {sorted(cls.defaults)}")
        out: dict[str, Any] = {}
        for key, value in options.items():
            if value is None and key in cls.nullable:
                out[key] = None
                continue
            value = _convert(name, key, value, cls.defaults[key], cls.types.get(key))
            allowed = cls.choices.get(key)
            if allowed is not None and value not in allowed:
                raise EvalkitError(f"{name}: option {key}={value!r} not in {allowed}")
            low, high = cls.bounds.get(key, (None, None))
            if value is not None and not isinstance(value, bool) and isinstance(value, (int, float)) and (
                    (low is not None and value < low) or (high is not None and value > high)):
                raise EvalkitError(f"{name}: option {key}={value!r} out of range "
                                   f"[{'-∞' if low is None else low}, {'∞' if high is None else high}]")
            out[key] = value
        return out

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.registry_name, "version": self.version, **self.options}

    def label(self, *tags: str) -> str:
        """``name`` or ``name[tag,key=value,...]`` with the options that differ from the defaults:
        how results and reports tell apart two configurations of one plugin (e.g. a sweep)."""
        tags = tuple(t for t in tags if t) + tuple(
            f"{k}={v}" for k, v in sorted(self.options.items()) if v != self.defaults[k])
        return f"{self.registry_name}[{','.join(tags)}]" if tags else self.registry_name


def option_type(default: Any, declared: type | None) -> type | None:
    if declared is not None:
        return declared
    if default is None:
        return None
    if isinstance(default, bool):
        return bool
    return tuple if isinstance(default, (tuple, list)) else type(default)


def _convert(plugin: str, key: str, value: Any, default: Any, declared: type | None) -> Any:
    kind = option_type(default, declared)
    if value is None:
        if default is None:
            return None
        raise EvalkitError(f"{plugin}: option {key} needs a value (default {default!r})")
    if kind is None or kind in (dict, object):
        return value
    what = f"{plugin}: option {key}={value!r}"
    if kind is tuple:
        element = option_type(default[0], None) if isinstance(default, (tuple, list)) and default else None
        items = _split_list(value)
        return tuple(_convert(plugin, key, v, None, element) if element else v for v in items)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise EvalkitError(f"{what} must be true or false")
    if kind is int:
        number = _number(value, what, "an integer")
        if not float(number).is_integer():
            raise EvalkitError(f"{what} must be an integer (a plugin whose option takes fractions declares a "
                               f"float default)")
        return int(number)
    if kind is float:
        return float(_number(value, what, "a number"))
    if kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)   # `items=1`: YAML reads an id as a number
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return value        # a text option a plugin also reads as a list (e.g. transforms)
        raise EvalkitError(f"{what} must be text")
    return value


def _number(value: Any, what: str, expected: str) -> float:
    if isinstance(value, bool):
        raise EvalkitError(f"{what} must be {expected}, not a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip()) if any(c in value for c in ".eE") else int(value.strip())
        except ValueError:
            raise EvalkitError(f"{what} must be {expected}") from None
    if not isinstance(value, (int, float)):
        raise EvalkitError(f"{what} must be {expected}")
    if not math.isfinite(value):
        raise EvalkitError(f"{what} must be finite")
    return value


def _split_list(value: Any) -> list:
    """A list option: a list or tuple, a string separated by '+' (in brackets) or ',', or one value."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        return [v.strip() for v in value.replace("+", ",").split(",") if v.strip()]
    return [value]
