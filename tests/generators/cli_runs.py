"""A YAML run config through `evalkit run` in this process (typer's CliRunner), and its results."""
from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.run.store import ResultsStore

_load_commands()


def run_config(tmp_path: Path, cfg: dict, *args: str):
    """Write ``cfg`` to ``tmp_path/run.yaml``, run it into ``tmp_path/runs`` (exit code 0 asserted);
    returns the output folder and the latest run's result rows."""
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "runs"
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--quiet", *args])
    assert res.exit_code == 0, res.output
    store = ResultsStore(out)
    try:
        return out, store.results(store.latest_run_id())
    finally:
        store.close()


def invoke(*args: str):
    """``evalkit <args>`` in this process; typer's Result (exit_code, output)."""
    return CliRunner().invoke(app, list(args))
