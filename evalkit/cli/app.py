"""The typer application; every command lives in its own module of ``evalkit.cli``."""
from __future__ import annotations

import typer

# rich_markup_mode=None: help texts are plain text, so "name[key=value,...]" is shown as written
# (rich markup would swallow the brackets)
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="evalkit: identity–motion benchmarks for text-to-video generation.")


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print one clear error line and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)
