"""The typer application; every command lives in its own module of ``evalkit.cli``."""
from __future__ import annotations

import os
import sys
import traceback

import typer
import typer.core
from typer.core import TyperGroup

# the click typer runs on: recent typers (≥ 0.20) vendor their own copy as typer._click, whose
# exceptions module has no Abort (typer.exceptions has it); older ones use click itself, and
# typer.Abort is click's. Feature-detected, so every typer of pyproject's range works.
_exceptions = (getattr(typer.core, "_click", None) or __import__("click")).exceptions
ABORT = getattr(typer, "Abort", None) or getattr(_exceptions, "Abort")

#: set to 1 to see the traceback of an unexpected error (a bug report) instead of its one line
TRACEBACK_ENV = "EVALKIT_TRACEBACK"


def unexpected_error_line(exc: BaseException) -> str:
    """One line for an error no command turned into a message: an OS error (a full disk, a
    read-only folder, a symlink loop) names its file; anything else is a bug and says how to
    get its traceback."""
    from .. import errors

    if isinstance(exc, errors.EvalkitError):
        return " ".join(str(exc).split())
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return (f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())} (a bug in evalkit? "
            f"{TRACEBACK_ENV}=1 shows the traceback)")


class OneLineErrors(TyperGroup):
    """Usage errors (a bad value, a missing argument, an unknown flag) as one ``error:`` line and
    exit 2, like evalkit's own errors, instead of click's usage block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _exceptions.NoArgsIsHelpError as exc:   # a bare `evalkit` or `evalkit data`: the help
            exc.show()
            sys.exit(exc.exit_code)
        except _exceptions.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            typer.echo(f"error: {' '.join(exc.format_message().split())}{hint}", err=True)
            sys.exit(2)
        except _exceptions.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except ABORT:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        except Exception as exc:   # noqa: BLE001 - the last resort: one line, never two tracebacks
            if os.environ.get(TRACEBACK_ENV) == "1":
                traceback.print_exc()
            typer.echo(f"error: {unexpected_error_line(exc)}", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


# rich_markup_mode=None: help texts are plain text, so "name[key=value,...]" is shown as written
# (rich markup would swallow the brackets)
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  cls=OneLineErrors, help="evalkit: identity–motion benchmarks for text-to-video generation.")


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
