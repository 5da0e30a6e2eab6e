"""Paper-ready outputs: display names, `$-$`, bold only when not tied, a LaTeX width that fits a
two-column paper (or table*), n stated, S.E.M. named on every plot, Pareto labels that do not
collide, no empty plots, y–t slices on one shared column with a time axis, full labels and an
export from the CLI."""
from __future__ import annotations

import dataclasses
import itertools
import shutil
import subprocess

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.errors import EvalkitError
from evalkit.report import plots
from evalkit.report.labels import DisplayNames
from evalkit.report.leaderboard import build_leaderboard
from evalkit.report.sources import load_run
from evalkit.report.tables import render_latex, summary_table
from evalkit.run.store import ResultsStore

_load_commands()
CASES = ["c0", "c1", "c2"]
LONG = [f"method-{i}[injection_fraction=0.{i},blocks=all,record=per-step]" for i in range(7)]


@pytest.fixture
def many(tmp_path, fake_metrics, fill):
    """Seven generators with long labels, close on both metrics (a crowded Pareto plot)."""
    store = ResultsStore(tmp_path / "out")
    vals = {}
    for i, g in enumerate(LONG):
        vals[(g, "fake-fidelity[fake-klt]")] = {c: 0.50 + 0.002 * i + 0.01 * j for j, c in enumerate(CASES)}
        vals[(g, "fake-leak")] = {c: 0.30 - 0.001 * i + 0.01 * j for j, c in enumerate(CASES)}
        vals[(g, "fake-dynamic")] = {c: 1 for c in CASES}                   # all tied
    fill(store, "r", vals, timings=lambda g, c, s: (1.0, 0.0, 2.0 + 0.1 * len(g) % 3))
    store.close()
    return tmp_path / "out"


def test_display_names_from_a_labels_file_and_the_run_config(many, tmp_path):
    labels = tmp_path / "labels.yaml"
    labels.write_text("generators: {'method-0[injection_fraction=0.0,blocks=all,record=per-step]': Ours}\n"
                      "metrics: {fake-fidelity: Motion Fidelity, fake-leak: Id. Leak}\n")
    result = CliRunner().invoke(app, ["report", str(many), "--labels", str(labels)])
    assert result.exit_code == 0, result.output
    assert "| Ours |" in result.stdout and "| Motion Fidelity ↑ |" in result.stdout.replace("| generator ", "")
    assert "Id. Leak ×100 ↓" in result.stdout
    assert "- Motion Fidelity (fake-fidelity[fake-klt]): metric fake-fidelity" in result.stdout   # ids kept
    run = load_run(many)
    run.info["plan"]["labels"] = {"generators": {LONG[1]: "Baseline"}}
    from evalkit.report.labels import labels_of

    named = (labels_of(run) | DisplayNames.read(labels)).apply_run(run)
    assert {"Ours", "Baseline"} <= set(named.results["generator"]) and "Baseline" in set(named.generations["generator"])
    with pytest.raises(EvalkitError, match="would both be shown as 'Same'"):
        DisplayNames.of({"generators": {LONG[0]: "Same", LONG[1]: "Same"}}).apply(run.results)


def test_latex_minus_sign_and_no_bold_in_a_tied_column(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "s")
    fill(store, "r", {("a", "fake-fidelity[fake-klt]"): {"c0": -0.5, "c1": -0.4},
                      ("b", "fake-fidelity[fake-klt]"): {"c0": -0.7, "c1": -0.6},
                      ("a", "fake-dynamic"): {"c0": 1, "c1": 1}, ("b", "fake-dynamic"): {"c0": 1, "c1": 1}})
    table = summary_table(store.results("r"))
    tex = render_latex(table)
    assert r"$-$0.450 $\pm$ 0.050" in tex and "-0.45" not in tex              # a minus, not a hyphen
    rows = {line.split(" & ")[0]: line.split(" & ") for line in tex.splitlines() if line.startswith(("a &", "b &"))}
    assert all(r"\textbf" not in rows[g][1] for g in "ab")                    # fake-dynamic: tied, no bold
    assert r"\textbf" in rows["a"][2] and r"\underline" in rows["b"][2]       # a unique best / second
    assert "fake-dynamic: tied for best at the printed precision, not marked" in table.footnotes
    assert "n = 2 cases per cell." in table.footnotes


def _compile(tmp_path, body: str, name: str) -> str:
    doc = ("\\documentclass[twocolumn]{article}\\usepackage[T1]{fontenc}\\usepackage{booktabs}"
           "\\usepackage{graphicx}\n\\begin{document}\nText.\n" + body + "\\end{document}\n")
    (tmp_path / f"{name}.tex").write_text(doc)
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:]
    return (tmp_path / f"{name}.log").read_text(errors="replace")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_tables_fit_a_two_column_paper(many, tmp_path):
    """Defect: the leaderboard LaTeX was 229 pt too wide for a two-column paper."""
    run = load_run(many)
    body = build_leaderboard([run]).to_latex() + render_latex(run.results) + render_latex(run.results, wide=True)
    log = _compile(tmp_path, body, "paper")
    assert "Overfull \\hbox" not in log, [l for l in log.splitlines() if "Overfull" in l]
    assert body.count(r"\begin{table*}") == 1


def test_every_plot_names_its_error_bars(many, monkeypatch):
    """Defect: nothing said that the error bars are S.E.M."""
    figures = []
    monkeypatch.setattr(plots, "_png", lambda fig: figures.append(fig) or b"png")
    run = load_run(many)
    plots.pareto_plot(run.results, "fake-fidelity[fake-klt]", "fake-leak")
    plots.runtime_plot(run.generations)
    sweep = run.results.copy()
    sweep["generator_config"] = [f'{{"name": "mbq", "injection_fraction": 0.{g[7]}}}' for g in sweep["generator"]]
    plots.tradeoff_plot(sweep, ["fake-fidelity[fake-klt]", "fake-leak"])
    assert len(figures) == 3
    for fig in figures:
        texts = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
        assert any("S.E.M." in t and "over 3" in t for t in texts), texts
    assert figures[1].axes[0].get_ylim()[0] == 0                               # no negative seconds


def test_pareto_labels_do_not_collide(many):
    run = load_run(many)
    fig = plots.pareto_figure(run.results, "fake-fidelity[fake-klt]", "fake-leak")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text() in LONG]
    assert len(labels) == len(LONG)
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not [(a, b) for a, b in itertools.combinations(range(len(boxes)), 2) if boxes[a].overlaps(boxes[b])]


def test_no_empty_runtime_plot(tmp_path, fake_metrics, fill):
    """Defect: weight-free runs gave an empty runtime plot with a negative-seconds axis."""
    store = ResultsStore(tmp_path / "s")
    fill(store, "r", {("copy", "fake-leak"): {"c0": 0.1}}, timings=lambda g, c, s: (0.0, 0.0, 0.0))
    with pytest.raises(EvalkitError, match="every generation took 0 s"):
        plots.runtime_plot(store.generations("r"))


def test_contact_sheet_has_full_labels_and_a_time_axis(make_video):
    from evalkit.report.yt_slices import contact_sheet_figure
    from evalkit.video import Video

    label = "mbq[injection_fraction=0.6,blocks=all,record=per-step] with a long label"
    fig = contact_sheet_figure([("source", Video(make_video("copy", "c0"))), (label, Video(make_video("copy", "c0")))])
    assert fig.axes[2].get_ylabel() == label                                  # not cut to 14 characters
    assert fig.axes[-1].get_xlabel() == "time [s]"
    assert "the same for every row" in fig.axes[1].get_title()


def test_plots_and_yt_slices_are_exported_from_the_cli(tmp_path):
    from evalkit.run.plan import ComponentSpec, Plan
    from evalkit.run.runner import run_plan

    run_plan(Plan(ComponentSpec("test-squares", {"n": 2}), (ComponentSpec("test-copy"),),
                  (ComponentSpec("test-brightness"),)), tmp_path / "out")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "out"), "--plots", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert written == ["yt-slices-000-sq0.png", "yt-slices-001-sq1.png"]
    assert "skipped runtime.png: runtime plot: every generation took 0 s" in result.stderr
    assert "skipped pareto.png" in result.stderr


def test_paper_latex_keeps_cells_short(many):
    """A reproduced table's unmeasured cells are '—' with the reason in the caption; the
    leaderboard's provenance shared by every row is said once."""
    from evalkit.report.paper.reproduce import load_table, reproduce

    run = load_run(many)
    flicker = run.results[run.results["metric"] == "fake-leak"].assign(metric="temporal-flicker",
                                                                      metric_name="temporal-flicker")
    measured = dataclasses.replace(run, results=flicker)   # one column of the paper measured
    tex = reproduce(load_table("mbq-table1"), measured, {"Ours": LONG[0]}).to_latex()
    ours = next(line for line in tex.splitlines() if line.startswith(r"$\hookrightarrow$"))
    assert "n/a" not in ours and "---" in ours
    assert "in a $\\hookrightarrow$ row: not measured in this run (M. Fidel., Text" in tex
    caption = next(line for line in build_leaderboard([run]).to_latex().splitlines() if line.startswith(r"\caption"))
    assert caption.count("All rows: run r") == 1 and caption.count("commit") == 1


def test_rows_with_nothing_measured_are_not_called_unranked(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "s")
    fill(store, "r", {("a", "fake-leak"): {"c0": 0.1, "c1": 0.2}, ("b", "fake-leak"): {"c0": 0.1, "c1": 0.2}},
         fail={("b", "fake-leak", "c0"), ("b", "fake-leak", "c1")})
    notes = summary_table(store.results("r")).footnotes
    assert not [n for n in notes if "not ranked" in n]
