"""``evalkit`` command line. Each ``evalkit/cli/<command>.py`` adds its command to ``app``."""
from __future__ import annotations

import importlib
import pkgutil

from .app import app


def _load_commands() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name not in ("app", "__main__"):
            importlib.import_module(f"{__name__}.{info.name}")


def main() -> None:
    _load_commands()
    app()
