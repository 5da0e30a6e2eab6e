"""The one table writer: a Grid written as Markdown, LaTeX and HTML (known outputs)."""
from __future__ import annotations

from evalkit.report.markup import BEST, SECOND, Grid, latex_escape, to_html, to_latex, to_markdown

GRID = Grid(("category", "generator", "MF ↑"), (("a", "x|y", "0.9 ± 0.1"), ("b", "z", "0.5")), keys=2,
            marks={(0, 2): BEST, (1, 2): SECOND}, breaks=(1,), notes=("MF: 100 % of cases_1",), title="T")


def test_markdown():
    assert to_markdown(GRID) == ("### T\n\n| category | generator | MF ↑ |\n|:---|:---|---:|\n"
                                 "| a | x\\|y | 0.9 ± 0.1 |\n| b | z | 0.5 |\n\n- MF: 100 % of cases_1\n")


def test_latex():
    tex = to_latex(GRID, caption="Cap", label="tab:t")
    assert r"\begin{tabular}{llc}" in tex
    assert r"a & x\textbar{}y & \textbf{0.9 $\pm$ 0.1} \\" in tex and r"b & z & \underline{0.5} \\" in tex
    assert tex.count(r"\midrule") == 2                              # after the header, between categories
    assert r"\caption{Cap. MF: 100 \% of cases\_1.}" in tex and r"\label{tab:t}" in tex
    assert latex_escape("×{~}") == r"$\times$\{\textasciitilde{}\}"


def test_html():
    h = to_html(GRID)
    assert h.startswith("<h3>T</h3>\n<table class=\"evalkit-table\">")
    assert '<tr><th>a</th><th>x|y</th><td class="best">0.9 ± 0.1</td></tr>' in h
    assert '<tr><th>b</th><th>z</th><td class="second">0.5</td></tr>' in h
    assert '<ul class="footnotes"><li>MF: 100 % of cases_1</li></ul>' in h
