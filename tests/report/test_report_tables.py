"""Seed-table formatting: known cells, arrows, scale, booleans, failures, every format."""
from __future__ import annotations

import io
import re
import shutil
import subprocess

import pandas as pd
import pytest

from evalkit.report.tables import render_csv, render_html, render_latex, render_markdown, summary_table


def test_summary_cells_known_values(small_run):
    store, run = small_run
    t = summary_table(store.results(run)).cells
    # best mean rank first; noise, unranked in fake-fidelity (a failed item), after the rows ranked everywhere
    assert list(t.index) == ["copy", "static", "noise"]
    assert list(t.columns) == ["fake-dynamic ↑", "fake-fidelity[fake-klt] ↑", "fake-leak ×100 ↓"]
    # mean 0.8, sem = std([.9,.8,.7], ddof=1)/sqrt(3) = 0.1/sqrt(3) = 0.0577
    assert t.loc["copy", "fake-fidelity[fake-klt] ↑"] == "0.800 ± 0.058"
    # ×100 scale: mean 60, sem 5.77
    assert t.loc["copy", "fake-leak ×100 ↓"] == "60.0 ± 5.8"
    # boolean as fraction: 2 of 3
    assert t.loc["copy", "fake-dynamic ↑"] == "0.667 ± 0.333"
    # failure counted, excluded from the mean (0.0, 0.1 -> 0.05)
    assert t.loc["noise", "fake-fidelity[fake-klt] ↑"] == "0.050 ± 0.050 (1/3 failed)"


def test_by_category(small_run):
    store, run = small_run
    t = summary_table(store.results(run), by_category=True).cells
    assert t.index.names == ["category", "generator"]
    assert t.loc[("Subject", "copy"), "fake-leak ×100 ↓"] == "60.0 (n=1)"  # no S.E.M. of one case
    assert t.loc[("Scene", "noise"), "fake-fidelity[fake-klt] ↑"].startswith("— (1/1 failed)")


def test_footnotes_name_backend_and_checkpoint(small_run):
    store, run = small_run
    notes = summary_table(store.results(run)).footnotes
    fid = next(n for n in notes if n.startswith("fake-fidelity"))
    assert "backend fake-klt (org/fake-checkpoint)" in fid
    assert any("boolean per video" in n for n in notes)
    assert any("reported ×100" in n for n in notes)


def test_markdown(small_run):
    store, run = small_run
    md = render_markdown(summary_table(store.results(run)), title="Synthetic")
    lines = md.splitlines()
    assert lines[0] == "### Synthetic"
    assert lines[2].startswith("| generator | fake-dynamic ↑ | fake-fidelity[fake-klt] ↑ |")
    assert lines[3] == "|:---|---:|---:|---:|"
    assert "| copy | 0.667 ± 0.333 | 0.800 ± 0.058 | 60.0 ± 5.8 |" in lines
    assert md == render_markdown(store.results(run), title="Synthetic")  # raw results accepted


def test_csv_round_trip(small_run):
    store, run = small_run
    df = pd.read_csv(io.StringIO(render_csv(store.results(run))))
    row = df[(df.generator == "copy") & (df.metric == "fake-leak")].iloc[0]
    assert row["mean"] == 0.6 and row["mean_scaled"] == 60.0 and row["n"] == 3
    assert df[(df.generator == "noise") & (df.metric == "fake-fidelity[fake-klt]")].iloc[0]["n_failed"] == 1


def test_latex_best_bold_second_underlined(small_run):
    store, run = small_run
    tex = render_latex(store.results(run), caption="Synthetic suite")
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    copy_row = next(l for l in tex.splitlines() if l.startswith("copy &"))
    static_row = next(l for l in tex.splitlines() if l.startswith("static &"))
    noise_row = next(l for l in tex.splitlines() if l.startswith("noise &"))
    assert r"\textbf{0.800 $\pm$ 0.058}" in copy_row          # fidelity ↑ best
    assert r"\underline{0.200 $\pm$ 0.058}" in static_row      # second
    assert r"\textbf{10.0 $\pm$ 0.0}" in noise_row             # leak ↓ best
    assert r"\_" not in copy_row.split("&")[0]
    # balanced braces and environments
    assert tex.count("{") == tex.count("}")
    assert tex.count(r"\begin{") == tex.count(r"\end{")
    assert re.search(r"\\begin\{tabular\}\{lccc\}", tex)


def test_html_fragment(small_run):
    store, run = small_run
    h = render_html(store.results(run), by_category=True)
    assert h.count("<tr>") == 1 + 9 and '<td class="best">' in h and "&lt;" not in h


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(small_run, tmp_path):
    store, run = small_run
    body = render_latex(store.results(run), by_category=True, caption="Synthetic – 100 % of cases_{x}")
    doc = ("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{booktabs}\n"
           "\\begin{document}\n" + body + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(doc)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def test_rows_are_sorted_by_score_not_by_name(tmp_path, fill, fake_metrics):
    """Defect (issue 27 item 12): report tables listed generators alphabetically. Rows now come
    best first by their mean per-column rank (the leaderboard's score), per category too."""
    from evalkit.run.store import ResultsStore

    store = ResultsStore(tmp_path)
    cases = ["c0", "c1"]
    fill(store, "r", {("alpha", "fake-fidelity[fake-klt]"): dict(zip(cases, [0.1, 0.2])),
                      ("beta", "fake-fidelity[fake-klt]"): dict(zip(cases, [0.5, 0.6])),
                      ("zeta", "fake-fidelity[fake-klt]"): dict(zip(cases, [0.9, 0.8])),
                      ("alpha", "fake-leak"): dict(zip(cases, [0.9, 0.9])),
                      ("beta", "fake-leak"): dict(zip(cases, [0.5, 0.4])),
                      ("zeta", "fake-leak"): dict(zip(cases, [0.1, 0.2]))},
         categories={"c0": "A", "c1": "B"})
    res = store.results("r")
    assert list(summary_table(res).cells.index) == ["zeta", "beta", "alpha"]
    assert [g for _, g in summary_table(res, by_category=True).cells.index] == ["zeta", "beta", "alpha"] * 2
    assert re.findall(r"^\| (\w+) \|", render_markdown(res), re.M)[1:] == ["zeta", "beta", "alpha"]
