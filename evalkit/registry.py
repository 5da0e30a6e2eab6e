"""One small generic registry for datasets, generators, metrics and feature backends.

Plugins register themselves with a decorator; a registry discovers its plugins by
importing every module of its package once, so modules must keep heavy imports
(torch, transformers, diffusers) inside functions.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Callable, Generic, Iterable, Iterator, TypeVar

from .errors import EvalkitError

T = TypeVar("T")


class UnknownNameError(EvalkitError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _check_kebab(kind: str, name: str) -> None:
    if name != name.lower() or " " in name or "_" in name:
        raise ValueError(f"{kind} name {name!r} must be kebab-case")


class Registry(Generic[T]):
    """``name_of``: where a plugin states its own name (metrics: ``spec.name``). Such a
    registry takes the name from the plugin, so it is written once; a name given to
    ``register`` as well must agree, checked when the plugin module is imported."""

    def __init__(self, kind: str, package: str, name_of: Callable[[T], str | None] | None = None) -> None:
        self.kind = kind
        self.package = package
        self.name_of = name_of
        self._entries: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str | None = None) -> Callable[[T], T]:
        if name is not None:
            _check_kebab(self.kind, name)

        def decorator(obj: T) -> T:
            own = self.name_of(obj) if self.name_of else None
            if own is not None and name is not None and own != name:
                raise ValueError(f"{self.kind} registered as {name!r} states its name as {own!r}")
            key = name if name is not None else own
            if key is None:
                raise ValueError(f"{self.kind} {obj!r}: no name (pass one to register)")
            _check_kebab(self.kind, key)
            existing = self._entries.get(key)
            if existing is not None and existing is not obj:
                raise ValueError(f"{self.kind} {key!r} is already registered by {existing!r}")
            self._entries[key] = obj
            if isinstance(obj, type):
                obj.registry_name = key  # type: ignore[attr-defined]
            return obj

        return decorator

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
            importlib.import_module(info.name)
        load_plugins()

    def origin(self, name: str) -> str:
        """Where a plugin came from: ``evalkit`` or the third-party module (and distribution)."""
        module = getattr(self.get(name), "__module__", "")
        if module == "evalkit" or module.startswith("evalkit."):
            return "evalkit"
        top = module.split(".")[0]
        dist = _PLUGIN_SOURCES.get(module) or _PLUGIN_SOURCES.get(top)
        return f"{module} ({dist})" if dist else module

    def get(self, name: str) -> T:
        self._discover()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._entries))})"
            ) from None

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        for name in self.names():
            yield name, self._entries[name]

    def __contains__(self, name: str) -> bool:
        self._discover()
        return name in self._entries


#: entry-point group through which installed packages add datasets, generators, metrics, backends
PLUGIN_GROUP = "evalkit.plugins"
_PLUGIN_SOURCES: dict[str, str] = {}   # plugin module -> "entry point NAME of DIST" or "--plugin"
_PLUGINS = {"entry_points_loaded": False}


def load_plugins(modules: Iterable[str] = ()) -> None:
    """Import every module an installed package names in the ``evalkit.plugins`` entry-point
    group (once per process), then each of ``modules`` (``evalkit --plugin module.path``): the
    imports register their plugins with the decorators, exactly like evalkit's own modules."""
    from importlib import metadata

    if not _PLUGINS["entry_points_loaded"]:
        _PLUGINS["entry_points_loaded"] = True
        for ep in metadata.entry_points(group=PLUGIN_GROUP):
            dist = getattr(ep.dist, "name", None) or "unknown distribution"
            _import_plugin(ep.value.split(":")[0], f"entry point {ep.name} of {dist}")
    for module in modules:
        _import_plugin(module, "--plugin")


def plugin_modules() -> list[str]:
    """The modules this process loaded with ``--plugin``: worker processes load them too."""
    return [m for m, source in _PLUGIN_SOURCES.items() if source == "--plugin"]


def _import_plugin(module: str, source: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken plugin names itself, never a bare traceback
        raise EvalkitError(f"plugin {module} ({source}) failed to import: {type(exc).__name__}: {exc}") from None
    _PLUGIN_SOURCES.setdefault(module, source)


DATASETS: Registry = Registry("dataset", "evalkit.data")
GENERATORS: Registry = Registry("generator", "evalkit.generators")
def _spec_name(cls) -> str | None:
    return getattr(getattr(cls, "spec", None), "name", None)


METRICS: Registry = Registry("metric", "evalkit.metrics", name_of=_spec_name)
FEATURES: Registry = Registry("feature backend", "evalkit.features")
ANALYSES: Registry = Registry("analysis", "evalkit.analyses")
