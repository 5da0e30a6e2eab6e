"""``evalkit report``: every format, run references, errors."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import _load_commands
from evalkit.cli.app import app


@pytest.fixture(scope="module")
def cli():
    _load_commands()
    return CliRunner()


def test_formats(cli, small_run, tmp_path):
    store, run = small_run
    out = str(store.root)
    md = cli.invoke(app, ["report", out])
    assert md.exit_code == 0, md.output
    assert "| copy | 0.667 ± 0.333 | 0.800 ± 0.058 | 60.0 ± 5.8 |" in md.output
    csv = cli.invoke(app, ["report", f"{out}:{run}", "--format", "csv"])
    df = pd.read_csv(io.StringIO(csv.output))
    assert set(df["generator"]) == {"copy", "static", "noise"} and len(df) == 9
    tex = cli.invoke(app, ["report", out, "-f", "latex", "--by-category"])
    assert tex.exit_code == 0 and r"\begin{tabular}{llccc}" in tex.output and tex.output.count(r"\midrule") == 3
    target = tmp_path / "r.html"
    h = cli.invoke(app, ["report", out, "-f", "html", "-o", str(target)])
    assert h.exit_code == 0, h.output
    assert target.read_text().startswith("<!DOCTYPE html>")
    lb = cli.invoke(app, ["report", out, f"{out}:{run}", "--leaderboard", "--metrics", "fake-leak"])
    assert lb.exit_code == 0 and "Leaderboard" in lb.output
    plots = tmp_path / "plots"
    p = cli.invoke(app, ["report", out, "-o", str(tmp_path / "t.md"), "--plots", str(plots)])
    assert p.exit_code == 0 and (plots / "pareto.png").is_file()


def test_errors(cli, small_run, tmp_path):
    store, _ = small_run
    r = cli.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "not a results folder" in r.output
    r = cli.invoke(app, ["report", f"{store.root}:no-such-run"])
    assert r.exit_code == 2 and "no run 'no-such-run'" in r.output
    r = cli.invoke(app, ["report", str(store.root), "--format", "pdf"])
    assert r.exit_code == 2 and "--format" in r.output
    r = cli.invoke(app, ["report", str(store.root), "--metrics", "nope"])
    assert r.exit_code == 2 and "nope" in r.output
