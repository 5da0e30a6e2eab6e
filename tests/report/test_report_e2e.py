"""End to end: `evalkit run synthetic` with the reference generators, then every report command.

Slow (two full synthetic runs with KLT motion fidelity, ~1-2 min on 2 cores). Motion fidelity
uses the weight-free KLT backend so the test needs no downloaded tracker.
"""
from __future__ import annotations

import io
import shutil
import sqlite3
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import _load_commands
from evalkit.cli.app import app

RUN = ["run", "synthetic", "--generators", "copy,static,reverse,noise",
       "--metrics", "temporal-flicker,motion-fidelity[backend=klt]", "-q"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    _load_commands()
    cli = CliRunner()
    base = tmp_path_factory.mktemp("e2e")
    for name in ("a", "b"):   # two runs of the same plan, each computed from scratch
        r = cli.invoke(app, RUN + ["--out", str(base / name)])
        assert r.exit_code == 0, r.output
    # a degraded release: the generator labelled "copy" now returns what "noise" returns
    (base / "degraded").mkdir()
    shutil.copy(base / "b" / "evalkit.sqlite", base / "degraded" / "evalkit.sqlite")
    shutil.copytree(base / "b" / "artifacts", base / "degraded" / "artifacts")
    con = sqlite3.connect(base / "degraded" / "evalkit.sqlite")
    with con:
        con.execute("DELETE FROM results WHERE generator='copy'")
        con.execute("UPDATE results SET generator='copy' WHERE generator='noise'")
        con.execute("DELETE FROM run_items WHERE generator='copy'")
        con.execute("UPDATE run_items SET generator='copy' WHERE generator='noise'")
    con.close()
    return cli, base


@pytest.mark.slow
def test_every_format(runs, tmp_path):
    cli, base = runs
    a = str(base / "a")
    md = cli.invoke(app, ["report", a])
    assert md.exit_code == 0 and "| copy |" in md.output and "motion-fidelity[klt] ×100 ↑" in md.output
    csv = pd.read_csv(io.StringIO(cli.invoke(app, ["report", a, "-f", "csv"]).output))
    assert len(csv) == 4 * 2 and csv["n_failed"].sum() == 0
    flick = csv[csv.metric == "temporal-flicker"].set_index("generator")["mean"]
    assert flick["static"] == 1.0 and flick["noise"] < flick["copy"]      # known answers of the references
    tex = cli.invoke(app, ["report", a, "-f", "latex", "--by-category"]).output
    assert tex.count(r"\begin{") == tex.count(r"\end{") and r"\toprule" in tex and r"\textbf{" in tex
    if shutil.which("pdflatex"):
        (tmp_path / "t.tex").write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n"
                                        + tex + "\\end{document}\n")
        r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout[-2000:]
    out = tmp_path / "report.html"
    assert cli.invoke(app, ["report", a, "-f", "html", "-o", str(out)]).exit_code == 0
    doc = out.read_text()
    assert "<table" in doc and "data:image/png;base64," in doc and "y–t slices" in doc
    assert "synthetic" in doc   # the galleries rebuilt the cases (source videos shown)


@pytest.mark.slow
def test_compare_same_plan_and_degraded(runs, tmp_path):
    cli, base = runs
    same = cli.invoke(app, ["compare", str(base / "a"), str(base / "b")])
    assert same.exit_code == 0, same.output
    assert "No regression." in same.output
    # 5 synthetic cases: a two-sided Wilcoxon test cannot reach p < 0.05 (inconclusive, exit 0); the
    # paired t test can
    weak = cli.invoke(app, ["compare", str(base / "a"), str(base / "degraded")])
    assert weak.exit_code == 0 and "inconclusive" in weak.output and "small n: 5 paired cases" in weak.output
    bad = cli.invoke(app, ["compare", str(base / "a"), str(base / "degraded"), "--test", "t"])
    assert bad.exit_code == 1, bad.output
    rows = [line for line in bad.output.splitlines() if "**REGRESSION**" in line]
    assert rows and all(line.startswith("| copy |") for line in rows)
    # through a saved release baseline too
    rel = tmp_path / "releases"
    assert cli.invoke(app, ["baseline", "save", str(base / "a"), "--name", "v0.1", "--dir", str(rel)]).exit_code == 0
    assert cli.invoke(app, ["compare", str(rel / "v0.1.json"), str(base / "b")]).exit_code == 0
    assert cli.invoke(app, ["compare", str(rel / "v0.1.json"), str(base / "degraded"), "--test", "t"]).exit_code == 1


@pytest.mark.slow
def test_reproduce_renders(runs):
    cli, base = runs
    r = cli.invoke(app, ["reproduce", "mbq-table1", str(base / "a"), "--map", "Ours=copy"])
    assert r.exit_code == 0, r.output
    assert "| Ours | 91.6 ± 0.9 | 95.1 ± 0.3 | 28.8 ± 0.6 |" in r.output
    assert "↳ evalkit copy" in r.output and "paper backbone VideoCrafter2" in r.output
