"""Every report of an incomplete run says so, and ranks only rows measured on the same items."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.report.leaderboard import build_leaderboard
from evalkit.report.sources import load_run
from evalkit.report.tables import render_latex, summary_table
from evalkit.run.store import ResultsStore

_load_commands()
CASES = ["c0", "c1", "c2", "c3"]


@pytest.fixture
def interrupted(tmp_path, fake_metrics, fill):
    """An interrupted run: `late` was measured on 2 of the 4 cases (its two best-scoring ones
    missing would otherwise make it look best)."""
    store = ResultsStore(tmp_path / "out")
    fill(store, "run-i", {("early", "fake-leak"): dict(zip(CASES, [0.2, 0.3, 0.4, 0.5])),
                          ("late", "fake-leak"): {"c0": 0.1, "c1": 0.1}})
    store.start_run("run-i", {"dataset": {"name": "synthetic"}}, {"device": "cpu"}, expected=8)
    store.finish_run("run-i", "interrupted")
    store.close()
    return tmp_path / "out"


def test_markdown_latex_csv_html_of_an_interrupted_run_say_so(interrupted):
    for fmt in ("md", "latex", "csv", "html"):
        result = CliRunner().invoke(app, ["report", str(interrupted), "-f", fmt])
        assert result.exit_code == 0, result.output
        text = result.stdout
        if fmt == "csv":
            assert set(pd.read_csv(io.StringIO(text))["run_status"]) == {"interrupted"}
        else:
            assert "Run status: interrupted (6 of 8 results ok, 2 missing)" in text, fmt


def test_rows_measured_on_other_items_are_not_ranked(interrupted):
    run = load_run(interrupted)
    table = summary_table(run.results)
    ranks = table.numbers.set_index("generator")["rank"]
    assert ranks["early"] == 1 and pd.isna(ranks["late"])     # 'late' looks better on fewer cases
    assert any(n.startswith("fake-leak: not ranked") and "late (n=2" in n for n in table.footnotes)
    tex = render_latex(table)
    late = next(l for l in tex.splitlines() if l.startswith("late &"))
    assert r"\textbf" not in late and r"\underline" not in late


def test_the_leaderboard_ranks_only_entries_measured_on_the_same_items(interrupted):
    lb = build_leaderboard([load_run(interrupted)])
    assert list(lb.ranked["generator"]) == ["early"]
    assert "measured on 2 items (2 shared with the leaderboard's 4" in lb.apart.set_index("generator").loc[
        "late", "reason"]
    assert lb.notes[0] == "run run-i: Run status: interrupted (6 of 8 results ok, 2 missing)"
    assert "Run status: interrupted" in lb.to_markdown()
