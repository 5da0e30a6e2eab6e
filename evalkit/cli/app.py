"""The typer application; every command lives in its own module of ``evalkit.cli``."""
from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="evalkit: identity–motion benchmarks for text-to-video generation.")


@app.callback()
def _plugins(plugin: list[str] = typer.Option([], "--plugin", metavar="MODULE",
                                              help="import a module that registers plugins (repeatable); installed "
                                                   "packages register through the `evalkit.plugins` entry points")) -> None:
    """evalkit: identity–motion benchmarks for text-to-video generation."""
    from ..errors import EvalkitError
    from ..registry import load_plugins

    try:
        load_plugins(plugin)
    except EvalkitError as exc:
        raise fail(str(exc))


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print one clear error line and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)
