"""Escaping, fuzzed: any label, category or option value is printed as itself in LaTeX,
Markdown, HTML, CSV, plots and the console, and never interpreted.

Defects pinned: a generator label ``\\input{/etc/hostname}`` put the host name into the PDF and a
CPU run (``x86_64``) did not compile; Markdown passed ``<script>`` through; CSV wrote
``=HYPERLINK(...)`` unprefixed; rich markup swallowed ``[key=value]``.
"""
from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from evalkit.report.escape import clean, csv_cell, escape, latex_escape, markdown_escape, plot_escape
from evalkit.report.markup import Grid, to_csv, to_html, to_latex

HOSTILE = [r"\input{/etc/hostname}", "cpu (x86_64)", "<script>alert(1)</script>", "=HYPERLINK(\"http://x\",\"y\")",
           "+1+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "[click](javascript:alert(1))", "[x]: http://evil",
           "![img](http://x/y.png)", "*bold* _it_ `code` ~~s~~", "a|b", "# heading", "> quote", "1. item", "- item",
           "---", "$x^2$", r"\$ \\ \{", "100 % of cases_{x} & #1 ~ ^", "line\nbreak\ttab\x00nul\u2028sep",
           "&amp; &#60;", "mbq[injection_fraction=0.6,blocks=all]", "[bold red]boom[/]", "naïve café", "😀 中文",
           "''quoted'' --dash-- `tick`", "*start", "[start", "", " ", "-"]
texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40),
                  st.text(alphabet=st.sampled_from(list("\\{}$&%#_^~<>|*`[]()!:=+-@'\"\n 0123456789ab")), max_size=30))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- LaTeX -----------------------------------------------------------------------------------------

_LATEX_TOKEN = re.compile(r"""
    \\[&%$\#_{}]
  | \\(?:textbackslash|textasciitilde|textasciicircum|textless|textgreater|textbar|textquotedbl
        |textasciigrave|ldots)\{\}
  | \{[\[\]*]\} | [-']\{\}
  | \$(?:-|\\[A-Za-z]+|\^\\circ|\^2)\$
  | (?:\\[`'^~"=.cvurH]\{)+[A-Za-z]\}+
  | \{\\(?:ss|o|O|ae|AE|aa|AA)\}
  | ~ | `{1,2}
  | [ !'(),./0-9:;=?@A-Za-z+*\-]
""", re.VERBOSE)


def _latex_safe(tex: str) -> bool:
    """Only plain characters and the escapes evalkit emits: no command, group or math of its own."""
    pos = 0
    while pos < len(tex):
        m = _LATEX_TOKEN.match(tex, pos)
        if not m or m.end() == pos:
            return False
        pos = m.end()
    return True


@FUZZ
@given(texts)
def test_latex_escape_leaves_nothing_to_interpret(text):
    out = latex_escape(text)
    assert _latex_safe(out), out
    assert "\\input" not in out and "\n" not in out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                    reason="pdflatex / pdftotext not installed")
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=10, max_size=30))
def test_latex_tables_of_hostile_labels_compile_and_print_them(labels):
    labels = HOSTILE + labels
    grid = Grid(("generator", "value"), tuple((t, "-0.5") for t in labels), notes=tuple(labels[:5]))
    doc = ("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{booktabs}\\usepackage{graphicx}\n"
           "\\begin{document}\n" + to_latex(grid, caption="x86_64 \\input{/etc/hostname}") + "\\end{document}\n")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t.tex").write_text(doc)
        r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-3000:]
        text = subprocess.run(["pdftotext", "-layout", "t.pdf", "-"], cwd=tmp, capture_output=True,
                              text=True).stdout
    assert "\\input{/etc/hostname}" in text.replace(" ", "") or "input{/etc/hostname}" in text
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    assert not hostname or hostname not in text.replace("/etc/hostname", "")
    assert "x86_64" in text


# -- Markdown ------------------------------------------------------------------------------------

MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _inline_children(doc: str, index: int):
    inlines = [t for t in MD.parse(doc) if t.type == "inline"]
    return inlines[index].children


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", clean(text)).strip()


@FUZZ
@given(texts)
def test_markdown_shows_the_text_literally_in_a_cell_a_note_and_a_title(text):
    escaped = markdown_escape(text)
    if not _collapse(text):
        assert escaped == ""
        return
    for doc, index in ((f"| h |\n|---|\n| {escaped} |\n", 1), (f"- {escaped}\n", 0), (f"### {escaped}\n", 0)):
        children = _inline_children(doc, index)
        assert all(c.type == "text" for c in children), (doc, [c.type for c in children])
        assert _collapse("".join(c.content for c in children)) == _collapse(text), doc


def test_markdown_keeps_ordinary_labels_readable():
    assert markdown_escape("motion-fidelity[klt] ×100 ↑") == "motion-fidelity[klt] ×100 ↑"
    assert markdown_escape("snake_case_name") == "snake_case_name"
    assert markdown_escape("<script>") == "\\<script>"


# -- HTML ----------------------------------------------------------------------------------------

class _Cells(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.data = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.data.append(data)


@FUZZ
@given(texts, texts)
def test_html_tables_show_labels_and_categories_as_text(label, category):
    page = to_html(Grid(("category", "generator", "v"), ((category, label, "1"),), keys=2, notes=(label,),
                        title=category))
    parser = _Cells()
    parser.feed(page)
    assert set(parser.tags) <= {"h3", "table", "thead", "tr", "th", "tbody", "td", "ul", "li"}
    assert clean(label) in "".join(parser.data) and clean(category) in "".join(parser.data)


# -- CSV -----------------------------------------------------------------------------------------

@FUZZ
@given(texts)
def test_csv_cells_are_never_formulas(text):
    import pandas as pd

    out = to_csv(pd.DataFrame({"generator": [text], "mean": [-0.5]}))
    (row,) = list(csv.DictReader(io.StringIO(out)))
    cell = row["generator"]
    assert cell in (clean(text), "'" + clean(text))
    assert not cell.startswith(("=", "+", "@", "\t", "\r")) or cell.lstrip("+").replace(".", "").isdigit()
    assert row["mean"] == "-0.5"                              # numbers stay numbers
    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"


# -- plots and the console -------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Glyph")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_plot_labels_are_drawn_as_text(text):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    try:
        ax.set_title(plot_escape(text))
        ax.annotate(plot_escape(text), (0.5, 0.5))
        fig.canvas.draw()                                     # mathtext would raise on "$\input$"
    finally:
        plt.close(fig)


@FUZZ
@given(texts)
def test_progress_labels_are_not_rich_markup(text):
    """Defect: rich markup swallowed "[key=value,...]" in progress labels (sweep points looked alike)."""
    from rich.progress import Progress

    from evalkit.cli.run import progress_columns

    label_column = progress_columns()[0]
    with Progress(*progress_columns(), disable=True) as bar:
        task_id = bar.add_task(clean(text))   # the CLI's labels are one line (see evalkit.cli.run)
        task = next(t for t in bar.tasks if t.id == task_id)
        assert label_column.render(task).plain == clean(text)


def test_unknown_format_is_an_error():
    with pytest.raises(ValueError, match="unknown format"):
        escape("x", "rtf")


# -- through the reports: labels, categories and options ---------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(label=texts, category=texts, option=texts)
def test_seed_tables_and_leaderboards_escape_labels_categories_and_options(fake_metrics, fill, label, category,
                                                                           option):
    from evalkit.report.leaderboard import build_leaderboard
    from evalkit.report.sources import load_run
    from evalkit.report.tables import render_csv, render_html, render_latex, render_markdown
    from evalkit.run.store import ResultsStore

    generator = f"gen{label}[opt={option}]"
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultsStore(tmp)
        fill(store, "r", {(generator, "fake-leak"): {"c0": 0.1, "c1": 0.2}, ("copy", "fake-leak"): {"c0": 0.3, "c1": 0.4}},
             categories={"c0": category, "c1": category})
        store.close()
        run = load_run(tmp)
    res = run.results
    for md in (render_markdown(res, by_category=True), build_leaderboard([run]).to_markdown()):
        tokens = [c for t in MD.parse(md) if t.type == "inline" for c in t.children]
        assert {t.type for t in tokens} <= {"text", "strong_open", "strong_close", "softbreak"}, md
    tex = render_latex(res, by_category=True) + build_leaderboard([run]).to_latex()
    assert "\\input" not in tex and "<script" not in tex
    assert latex_escape(generator) in tex
    page = render_html(res, by_category=True) + build_leaderboard([run]).to_html()
    parser = _Cells()
    parser.feed(page)
    assert "script" not in parser.tags and clean(generator) in "".join(parser.data)
    rows = list(csv.DictReader(io.StringIO(render_csv(res, by_category=True))))
    assert {r["generator"] for r in rows} == {csv_cell(generator), "copy"}
