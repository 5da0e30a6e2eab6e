"""Paper tables: every transcribed cell is checked against the paper text; reproduction output."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli import _load_commands
from evalkit.cli.app import app
from evalkit.report.paper.reproduce import available_tables, load_table, parse_published, reproduce
from evalkit.report.sources import load_run
from evalkit.run.store import ResultsStore

PAPERS = {"mbq": "motion_by_queries_paper.txt", "ditflow": "ditflow_paper.txt",
          "vwarper": "vwarper_paper.txt", "lmp": "lmp_paper.txt"}
EXPECTED = {"mbq-table1", "mbq-table2", "mbq-table3", "ditflow-table1", "ditflow-table2", "ditflow-table3",
            "ditflow-appD", "vwarper-table1", "vwarper-table2", "vwarper-tableA1", "lmp-table1", "lmp-table2"}
_NUM = re.compile(r"\d+(?:\.\d+)?")


def _paper_lines(path: Path) -> list[str]:
    text = path.read_text()
    text = re.sub(r"\[\[\d+\]\([^)]*\)\]", " ", text)   # DiTFlow's linked citations
    text = re.sub(r"\[\d+\]", " ", text)                # V-Warper's [44]
    text = re.sub(r"\s+%", "%", text)                    # DiTFlow's "20 %0.797"
    return [" ".join(line.replace("|", " ").split()) for line in text.splitlines()]


def test_all_tables_present():
    assert EXPECTED <= set(available_tables())


@pytest.mark.parametrize("table_id", sorted(EXPECTED))
def test_transcription_matches_paper_text(table_id, shared_data):
    """Each row's printed numbers, in column order, occur on one line of the paper after its printed
    header; a value given in prose occurs in the row's quoted sentence fragment of the paper."""
    table = load_table(table_id)
    lines = _paper_lines(shared_data.parent / "papers" / PAPERS[table_id.split("-")[0]])
    used: set[int] = set()
    for row in table.rows:
        expected = [n for c in table.columns for n in _NUM.findall(row.values.get(c.key, ""))]
        if row.quote:
            assert any(row.quote in line for line in lines), f"{table_id}: quote {row.quote!r} not in the paper"
            assert all(n in _NUM.findall(row.quote) for n in expected), (table_id, row.label, expected)
            continue
        key = re.sub(r"\s+%", "%", row.printed or re.sub(r" [\[(].*", "", row.label))
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
    ours = next(line for line in md.splitlines() if line.startswith("| ↳ evalkit mbq"))
    # leak ×100: mean of 30, 32, 34, 36, 38 = 34.0; sem = std/√5 = 3.162/2.236 = 1.414
    assert "34.0 ± 1.4 (Δ -4.6)" in ours and "90.0 ± 0.0 (Δ -1.6)" in ours
    assert "paper backbone VideoCrafter2; run's mbq uses wan2.1-1.3b" in md
    assert "backend klt" in md
    frame = rep.frame()
    assert frame[(frame.row == "Ours") & (frame.column == "leak")]["delta"].iloc[0] == pytest.approx(-4.6)
    tex = rep.to_latex()    # the same grid through the LaTeX writer
    assert r"$\hookrightarrow$ evalkit mbq & " in tex and r"34.0 $\pm$ 1.4 ($\Delta$ $-$4.6)" in tex
    assert tex.count("{") == tex.count("}") and tex.count(r"\begin{") == tex.count(r"\end{")


def test_reproduce_cli_and_map(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "out")
    fill(store, "r", {("copy", "temporal-flicker"): {"a": 0.99, "b": 0.97}})
    store.close()
    _load_commands()
    runner = CliRunner()
    r = runner.invoke(app, ["reproduce", "mbq-table1", str(tmp_path / "out"), "--map", "Ours=copy"])
    assert r.exit_code == 0, r.output
    assert "↳ evalkit copy" in r.output and "98.0 ± 1.0 (Δ +2.9)" in r.output
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
    assert ("runtime: paper measured on NVIDIA H100 at 576×320; ours on cpu at the generator's default "
            "resolution") in md


# -- protocol defects (each pinned by a known answer) -------------------------------------------

def _runtime_run(tmp_path, fill):
    """mbq (6 s inversion + 30 s inference), the paper's base model under a non-default label
    (inference 30 s / 40 s: mean 35 s), and a default-options `vanilla` (100 s) that is not the base."""
    store = ResultsStore(tmp_path / "out")
    t = {"mbq": lambda c: (6.0, 0.0, 30.0), "vc2-base": lambda c: (0.0, 0.0, 30.0 + (c == "b") * 10),
         "vanilla": lambda c: (0.0, 0.0, 100.0)}
    fill(store, "r", {(g, "fake-leak"): {"a": 0.1, "b": 0.1} for g in t},
         timings=lambda g, c, s: t[g](c))
    store.close()
    return load_run(tmp_path / "out")


def test_overhead_base_resolved_through_the_mapping(tmp_path, fake_metrics, fill):
    run = _runtime_run(tmp_path, fill)
    rep = reproduce(load_table("mbq-table2"), run, {"VC2": "vc2-base"})
    cells = {(c.row, c.column): c for c in rep.cells}
    assert cells[("VC2", "infer")].ours_mean == pytest.approx(35.0)
    # Overhead = Ours' Sum / the inference time of the row VC2 (mapped), not of a generator named vanilla
    assert cells[("Ours", "overhead")].ours_mean == pytest.approx(36.0 / 35.0)


def test_unmatched_map_entry_is_an_error_listing_the_run_generators(tmp_path, fake_metrics, fill):
    from evalkit.errors import EvalkitError

    run = _runtime_run(tmp_path, fill)
    with pytest.raises(EvalkitError, match=r"no-such-gen.*mbq, vanilla, vc2-base"):
        reproduce(load_table("mbq-table2"), run, {"VC2": "no-such-gen"})
    with pytest.raises(EvalkitError, match=r"Nobody.*Z\.scope"):
        reproduce(load_table("mbq-table2"), run, {"Nobody": "mbq"})
    _load_commands()
    r = CliRunner().invoke(app, ["reproduce", "mbq-table2", str(tmp_path / "out"), "--map", "VC2=vanila"])
    assert r.exit_code == 2 and "vanila" in r.output and "mbq, vanilla, vc2-base" in r.output


def _differences(md: str) -> str:
    return md.split("**Setup differences", 1)[1].split("\n\n", 1)[0]


def test_tracker_difference_flagged_when_the_column_names_no_backend(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "out")
    fill(store, "r", {("mbq", "motion-fidelity[klt]"): {"a": 0.9, "b": 0.8},
                      ("mbq", "clip-text"): {"a": 0.3, "b": 0.3}},
         metric_configs={"motion-fidelity[klt]": {"name": "motion-fidelity", "version": "1", "backend": "klt",
                                                  "variant": "symmetric"},
                         "clip-text": {"name": "clip-text", "version": "1", "backend": "clip-vit-b32"}})
    store.close()
    diffs = _differences(reproduce(load_table("mbq-table1"), load_run(tmp_path / "out")).to_markdown())
    mf = next(line for line in diffs.splitlines() if line.startswith("- M. Fidel."))
    assert "klt" in mf and "CoTracker" in mf                # KLT vs the tracker of Yatim et al.'s MF
    text = next(line for line in diffs.splitlines() if line.startswith("- Text"))
    assert "not stated" in text and "clip-vit-b32" in text  # the paper names no CLIP model


def _ditflow_run(tmp_path, fill):
    store = ResultsStore(tmp_path / "out")
    cats = {"c0": "caption", "c1": "caption", "s0": "subject", "s1": "subject", "n0": "scene", "n1": "scene"}
    mf5 = {"c0": 0.80, "c1": 0.78, "s0": 0.70, "s1": 0.72, "n0": 0.76, "n1": 0.74}
    vals = {}
    for label, shift in (("ditflow-5b", 0.0), ("ditflow-2b", -0.1)):
        vals[(label, "motion-fidelity[dmt]")] = {c: v + shift for c, v in mf5.items()}
        vals[(label, "clip-text")] = {c: 0.31 + shift / 10 for c in mf5}
    fill(store, "r", vals, categories=cats,
         generator_configs={"ditflow-5b": {"name": "ditflow", "version": "1", "backbone": "cogvideox-5b"},
                            "ditflow-2b": {"name": "ditflow", "version": "1", "backbone": "cogvideox-2b"}},
         metric_configs={"motion-fidelity[dmt]": {"name": "motion-fidelity", "version": "1",
                                                  "backend": "cotracker1", "variant": "dmt_official"},
                         "clip-text": {"name": "clip-text", "version": "1", "backend": "clip-vit-b32"}})
    store.close()
    return load_run(tmp_path / "out")


def test_ditflow_both_backbone_halves_in_one_call(tmp_path, fake_metrics, fill):
    run = _ditflow_run(tmp_path, fill)
    table = load_table("ditflow-table1")
    for mapping in (None, {"DiTFlow": ["ditflow-5b", "ditflow-2b"]}):
        rep = reproduce(table, run, mapping)
        cells = {c.column: c for c in rep.cells if c.row == "DiTFlow"}
        assert all(c.n for c in cells.values()), [k for k, c in cells.items() if not c.n]
        assert cells["mf_5b_caption"].ours_mean == pytest.approx(0.79)
        assert cells["mf_5b_all"].ours_mean == pytest.approx(0.75)
        assert cells["mf_2b_subject"].ours_mean == pytest.approx(0.61)
        assert cells["iq_2b_all"].ours_mean == pytest.approx(0.30)
        assert {cells["mf_5b_all"].generator, cells["mf_2b_all"].generator} == {"ditflow-5b", "ditflow-2b"}
    _load_commands()
    r = CliRunner().invoke(app, ["reproduce", "ditflow-table1", str(tmp_path / "out"),
                                 "--map", "DiTFlow=ditflow-5b", "--map", "DiTFlow=ditflow-2b"])
    assert r.exit_code == 0, r.output
    assert "0.750 ± 0.015 (Δ -0.035)" in r.output and "0.650 ± 0.015 (Δ -0.076)" in r.output


def test_ditflow_columns_name_their_eval_code_protocols(tmp_path, fake_metrics, fill):
    """DiTFlow's columns ask for its own eval code (protocol=ditflow presets); a run with
    evalkit's defaults lists each preset option as a setup difference, a run with them none."""
    table = load_table("ditflow-table1")
    mf = next(c for c in table.columns if c.key == "mf_5b_all")
    iq = next(c for c in table.columns if c.key == "iq_5b_all")
    assert mf.options == {"protocol": "ditflow", "variant": "dmt_official"} and mf.backends == ("cotracker3",)
    assert iq.options == {"protocol": "ditflow", "fp16": True}
    diffs = _differences(reproduce(table, _ditflow_run(tmp_path / "a", fill)).to_markdown())
    assert "option protocol=None instead of 'ditflow'" in diffs and "option fp16=None instead of True" in diffs
    store = ResultsStore(tmp_path / "b" / "out")
    fill(store, "r", {("ditflow-5b", "motion-fidelity[dmt]"): {"c0": 0.8}, ("ditflow-5b", "clip-text"): {"c0": 0.3}},
         categories={"c0": "caption"},
         generator_configs={"ditflow-5b": {"name": "ditflow", "version": "1", "backbone": "cogvideox-5b"}},
         metric_configs={"motion-fidelity[dmt]": {"name": "motion-fidelity", "version": "2", "backend": "cotracker3",
                                                  "variant": "dmt_official", "protocol": "ditflow"},
                         "clip-text": {"name": "clip-text", "version": "1", "backend": "clip-vit-b32",
                                       "protocol": "ditflow", "fp16": True}})
    store.close()
    diffs = _differences(reproduce(table, load_run(tmp_path / "b" / "out")).to_markdown())
    assert "MF (motion-fidelity)" not in diffs and "IQ (clip-text)" not in diffs


def test_paper_table_corrections():
    lmp2 = load_table("lmp-table2")
    assert "Appearance Separation Module (ASM)" in lmp2.caption and "Suppression" not in lmp2.caption
    for tid in ("lmp-table1", "lmp-table2"):
        pick = next(c for c in load_table(tid).columns if c.key == "pick")
        assert pick.metric == "pickscore" and pick.paper_scale == 1
    imaging = next(c for c in load_table("vwarper-tableA1").columns if c.key == "imaging")
    assert imaging.metric == "imaging-quality" and imaging.paper_scale == 100   # MUSIQ printed 0-100
    t2 = load_table("ditflow-table2")
    assert t2.published("block 20", "mf") == "0.797" and t2.published("T_opt 40%", "mf") == "0.813"
    assert t2.published("K_opt 10", "iq") == "0.313"
    t3 = load_table("ditflow-table3")
    assert t3.published("temperature 5", "iq") == "0.317" and t3.published("SGD", "mf") == "0.623"
    assert t3.published("blocks 10,15,20", "mf") == "0.804"
    d = load_table("ditflow-appD")
    assert d.published("CogVideoX-2B", "amf_cos") == "0.857" and d.published("CogVideoX-5B", "amf_cos") == "0.734"
