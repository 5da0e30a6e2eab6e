"""The CLI's contract for refused input, checked in one place: exit 2 and exactly one `error:` line."""
from __future__ import annotations

from typer.testing import CliRunner

from evalkit.cli import _load_commands, app

_load_commands()


def one_error_line(args) -> str:
    """Run ``evalkit <args>`` in this process; assert exit 2 with one `error:` line and return it."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]
