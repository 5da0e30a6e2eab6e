"""The CLI's last-resort error handler: an error no command turned into a message is one
`error:` line through the real entry point (``python -m evalkit``), with the typer installed.

Defect: with typer 0.29 (which vendors click without ``exceptions.Abort``) every unexpected
error printed two tracebacks ending in AttributeError."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _evalkit(*args: str, code: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m evalkit ARGS`` (after ``code``, e.g. a patch that forces a bug)."""
    program = f"import sys; sys.argv[0] = 'evalkit'; {code}\nfrom evalkit.cli import main; main()"
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_an_os_error_is_one_line_naming_the_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = _evalkit("data", "export", "synthetic[num_frames=4,motions=pan]", "--out", str(blocker / "sub"))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(blocker) in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_bug_is_one_line_and_its_traceback_on_request():
    force = ("import evalkit.cli.list_plugins as lp\n"
             "def boom(*a, **k): raise RuntimeError('forced')\n"
             "lp._describe = boom")
    result = _evalkit("list", "generators", code=force)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: unexpected RuntimeError: forced (a bug in evalkit? EVALKIT_TRACEBACK=1 shows the traceback)"]
    shown = _evalkit("list", "generators", code=force, env={"EVALKIT_TRACEBACK": "1"})
    assert shown.stderr.count("Traceback") == 1 and "AttributeError" not in shown.stderr
