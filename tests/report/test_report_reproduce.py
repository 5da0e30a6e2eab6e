"""Paper tables: every transcribed cell is checked against the paper text; reproduction output."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli import _load_commands
from evalkit.cli.app import app
from evalkit.report.reproduce import available_tables, load_table, parse_published, reproduce
from evalkit.report.sources import load_run
from evalkit.run.store import ResultsStore


PAPERS = {"mbq": "motion_by_queries_paper.txt", "ditflow": "ditflow_paper.txt",
          "vwarper": "vwarper_paper.txt", "lmp": "lmp_paper.txt"}
EXPECTED = {"mbq-table1", "mbq-table2", "mbq-table3", "ditflow-table1", "vwarper-table1", "vwarper-table2",
            "vwarper-tableA1", "lmp-table1", "lmp-table2"}
_NUM = re.compile(r"\d+(?:\.\d+)?")


def _paper_lines(path: Path) -> list[str]:
    text = path.read_text()
    text = re.sub(r"\[\[\d+\]\([^)]*\)\]", " ", text)   # DiTFlow's linked citations
    text = re.sub(r"\[\d+\]", " ", text)                # V-Warper's [44]
    return [" ".join(line.replace("|", " ").split()) for line in text.splitlines()]


def test_all_tables_present():
    assert EXPECTED <= set(available_tables())


@pytest.mark.parametrize("table_id", sorted(EXPECTED))
def test_transcription_matches_paper_text(table_id, shared_data):
    """Each row's printed numbers, in column order, occur on one line of the paper after its label."""
    table = load_table(table_id)
    lines = _paper_lines(shared_data.parent / "papers" / PAPERS[table_id.split("-")[0]])
    used: set[int] = set()
    for row in table.rows:
        expected = [n for c in table.columns for n in _NUM.findall(row.values.get(c.key, ""))]
        key = re.sub(r" [\[(].*", "", row.label)
        hits = [i for i, line in enumerate(lines) if i not in used and key in line
                and _NUM.findall(line.split(key, 1)[1]) == expected]
        assert hits, f"{table_id}: row {row.label!r} {expected} not found in the paper text"
        used.add(hits[0])


def test_known_cells():
    assert load_table("mbq-table1").published("Ours", "leak") == "38.6 ± 1.8"
    assert load_table("mbq-table1").published("Ours", "mf") == "91.6 ± 0.9"
    assert load_table("mbq-table2").published("Ours", "overhead") == "×1.2"
    assert load_table("mbq-table3").published("Ours + VideoCrafter2", "msc") == "68.8 ± 1.8"
    assert load_table("ditflow-table1").published("DiTFlow", "mf_5b_all") == "0.785"
    assert load_table("ditflow-table1").published("SMM [62]", "mf_2b_all") == "0.688"
    assert load_table("vwarper-table1").published("VACE [16]", "clip_i") == "0.796"
    assert load_table("vwarper-tableA1").published("V-Warper (Ours)", "imaging") == "70.6617"
    assert load_table("lmp-table1").published("Ours", "align", group="Sub.") == "27.47"
    assert load_table("lmp-table2").published("w/o ASM", "mf") == "0.82"
    assert parse_published("97.0 ± 0.4") == (97.0, 0.4)
    assert parse_published("×45") == (45.0, None)
    assert parse_published("-") is None


def test_reproduce_mbq_table1(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "out")
    cases = {f"c{i}": 0.3 + 0.02 * i for i in range(5)}
    fill(store, "r", {("mbq", "identity-leakage[dino-vitb16]"): cases,
                            ("mbq", "motion-fidelity[klt]"): {c: 0.9 for c in cases},
                            ("copy", "motion-fidelity[klt]"): {c: 1.0 for c in cases}},
               generator_configs={"mbq": {"name": "mbq", "version": "1", "backbone": "wan2.1-1.3b"}},
               metric_configs={"identity-leakage[dino-vitb16]": {"name": "identity-leakage", "version": "1",
                                                                 "backend": "dino-vitb16", "pairing": "all"},
                               "motion-fidelity[klt]": {"name": "motion-fidelity", "version": "1", "backend": "klt",
                                                        "variant": "symmetric", "use_mask": False, "grid_size": 55}})
    store.close()
    rep = reproduce(load_table("mbq-table1"), load_run(tmp_path / "out"))
    md = rep.to_markdown()
    assert "| Ours | 91.6 ± 0.9 | 95.1 ± 0.3 |" in md          # published row exactly as printed
    ours = next(line for line in md.splitlines() if line.startswith("| ↳ evalkit `mbq`"))
    # leak ×100: mean of 30, 32, 34, 36, 38 = 34.0; sem = std/√5 = 3.162/2.236 = 1.414
    assert "34.0 ± 1.4 (Δ -4.6)" in ours and "90.0 ± 0.0 (Δ -1.6)" in ours
    assert "paper backbone VideoCrafter2; run's `mbq` uses wan2.1-1.3b" in md
    assert "backend klt" in md
    frame = rep.frame()
    assert frame[(frame.row == "Ours") & (frame.column == "leak")]["delta"].iloc[0] == pytest.approx(-4.6)


def test_reproduce_cli_and_map(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "out")
    fill(store, "r", {("copy", "temporal-flicker"): {"a": 0.99, "b": 0.97}})
    store.close()
    _load_commands()
    runner = CliRunner()
    r = runner.invoke(app, ["reproduce", "mbq-table1", str(tmp_path / "out"), "--map", "Ours=copy"])
    assert r.exit_code == 0, r.output
    assert "↳ evalkit `copy`" in r.output and "98.0 ± 1.0 (Δ +2.9)" in r.output
    r = runner.invoke(app, ["reproduce", "no-such-table", str(tmp_path / "out")])
    assert r.exit_code == 2 and "unknown paper table" in r.output
    for tid in sorted(EXPECTED):   # every table renders without a run
        r = runner.invoke(app, ["reproduce", tid])
        assert r.exit_code == 0, (tid, r.output)


def test_reproduce_runtime_table(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "out")
    fill(store, "r", {("mbq", "fake-leak"): {"a": 0.1, "b": 0.1}, ("vanilla", "fake-leak"): {"a": 0.1, "b": 0.1}},
         timings=lambda g, c, s: (6.0, 0.0, 30.0) if g == "mbq" else (0.0, 0.0, 30.0 + (c == "b") * 10))
    store.close()
    rep = reproduce(load_table("mbq-table2"), load_run(tmp_path / "out"))
    cells = {(c.row, c.column): c for c in rep.cells}
    assert cells[("Ours", "invers")].ours_mean == pytest.approx(6.0)
    assert cells[("Ours", "sum")].ours_mean == pytest.approx(36.0)
    assert cells[("Ours", "overhead")].ours_mean == pytest.approx(36.0 / 35.0)   # base: vanilla's mean inference
    assert cells[("VC2", "infer")].ours_mean == pytest.approx(35.0)
    md = rep.to_markdown()
    assert "| Ours | 12 | 0 | 58 | 70 | ×1.2 |" in md
    assert "runtime: paper measured on the paper's hardware" in md
