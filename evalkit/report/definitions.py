"""The one reader of the component configurations recorded in results rows.

Every result row carries ``metric_config`` and ``generator_config``: JSON objects with the
component's registry ``name``, ``version``, feature ``backend`` (metrics) and options. Every
report (footnotes, leaderboard comparability, regression pairing, paper-table setup checks,
plot axes) reads them through this module, so they agree on what "the same definition" means.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import EvalkitError
from ..registry import FEATURES, UnknownNameError

_FIXED = ("name", "version", "backend")


def parse_config(text: Any, *, what: str = "config") -> dict[str, Any]:
    """A recorded configuration (JSON text, a dict, or empty) as a dict; anything else is an error."""
    if isinstance(text, dict):
        return dict(text)
    if text is None or (isinstance(text, float) and text != text) or text == "":
        return {}
    try:
        out = json.loads(text)
    except (TypeError, ValueError):
        raise EvalkitError(f"{what}: not a JSON object: {str(text)[:80]!r}") from None
    if not isinstance(out, dict):
        raise EvalkitError(f"{what}: not a JSON object: {str(text)[:80]!r}")
    return out


def config_key(text: Any) -> str:
    """Canonical text of a configuration: equal keys <=> the same definition."""
    return json.dumps(parse_config(text), sort_keys=True, default=str)


def config_option(text: Any, key: str) -> Any:
    """One option of a recorded configuration (None when absent)."""
    return parse_config(text).get(key)


def checkpoint_of(backend: str | None) -> str:
    """The exact checkpoint a feature backend loads, 'weight-free', or why it cannot be told."""
    if not backend:
        return "no backend"
    try:
        cls = FEATURES.get(backend)
    except UnknownNameError:
        return "backend not installed here"
    weights = cls.weights_id
    if isinstance(weights, property):
        # computed from options (CoTracker, RAFT): evaluate on a bare instance with the
        # default options, without loading anything
        try:
            bare = cls.__new__(cls)
            bare.options = dict(getattr(cls, "defaults", {}))
            weights = weights.__get__(bare)
        except Exception:
            return "checkpoint chosen at load time"
    return str(weights) if weights else "weight-free"


def describe_backend(backend: str | None) -> str:
    return f"{backend} ({checkpoint_of(backend)})" if backend else "no feature backend"


@dataclass(frozen=True)
class Definition:
    """A metric's (or generator's) definition as recorded: name, version, backend, options."""
    name: str
    version: str = "?"
    backend: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, text: Any, *, what: str = "metric_config") -> "Definition":
        cfg = parse_config(text, what=what)
        return cls(str(cfg.get("name", "?")), str(cfg.get("version", "?")), cfg.get("backend") or None,
                   {k: v for k, v in cfg.items() if k not in _FIXED})

    def describe(self) -> str:
        """'metric motion-fidelity v1; backend klt (weight-free); options grid_size=55, ...'"""
        opts = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return "; ".join([f"metric {self.name} v{self.version}", f"backend {describe_backend(self.backend)}"
                          if self.backend else "no feature backend"] + ([f"options {opts}"] if opts else []))

    def changes(self, other: "Definition") -> list[str]:
        """'key: mine vs other' for every field that differs."""
        a, b = self._fields(), other._fields()
        return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]

    def _fields(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "backend": self.backend, **self.options}


def select_columns(results, wanted: list[str]) -> tuple[list[str], list[str]]:
    """Report columns for ``--metrics`` entries, written as columns (``motion-fidelity[klt]``) or
    as on ``evalkit run -m`` (``motion-fidelity[backend=klt]``, ``identity-leakage``): an entry
    matches the columns whose recorded definition has its name and every option it gives.
    Returns (columns in the order asked, entries that match nothing)."""
    from ..run.plan import ComponentSpec

    pairs = results[["metric", "metric_name", "metric_config"]].drop_duplicates("metric")
    columns, unknown = [], []
    for text in wanted:
        if text in set(pairs["metric"]):
            found = [text]
        else:
            try:
                spec = ComponentSpec.parse(text)
            except EvalkitError:
                spec = None
            found = [] if spec is None else [
                col for col, name, cfg in pairs.itertuples(index=False)
                if name == spec.name and all(_same(parse_config(cfg).get(k), v) for k, v in spec.options.items())]
        columns += [c for c in found if c not in columns]
        if not found:
            unknown.append(text)
    return columns, unknown


def _same(recorded: Any, given: Any) -> bool:
    return recorded == given or str(recorded) == str(given)
