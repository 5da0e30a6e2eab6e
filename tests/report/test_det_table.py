"""det-table1: DeT's MTBench comparison, transcribed from the repository's figure (no text copy of
the paper is in ../shared/papers), and reproduced like the other paper tables."""
from __future__ import annotations

import re

from evalkit.report.paper.reproduce import load_table, reproduce
from evalkit.report.sources import load_run
from evalkit.run.store import ResultsStore

_NUM = re.compile(r"^\d+\.\d$")


def test_every_cell_is_a_printed_one_decimal_number_in_the_printed_order():
    table = load_table("det-table1")
    assert [c.key for c in table.columns] == [f"{m}_{g}" for g in ("all", "hard", "medium", "easy")
                                              for m in ("ef", "tc", "mf")]
    assert len(table.rows) == 10
    for row in table.rows:
        assert all(_NUM.match(row.values[c.key]) for c in table.columns), row.label
    # cells read at 2× zoom of assets/quantitative.png (Shi-qingyu/DeT @ 2a2f4dd)
    assert table.published("MOFT", "ef_all") == "33.0" and table.published("MOFT", "ef_hard") == "33.8"
    assert table.published("Ours (HunyuanVideo)", "mf_all") == "85.9"
    assert table.published("MotionInversion (CogVideoX)", "mf_hard") == "80.7"
    assert table.published("Ours (Step-Video-T2V)", "tc_medium") == "93.5"
    assert table.published("SMA", "mf_easy") == "69.2"


def test_columns_ask_for_the_mtbench_presets():
    cols = {c.key: c for c in load_table("det-table1").columns}
    assert (cols["mf_all"].metric, cols["mf_all"].backends, cols["mf_all"].options) == \
        ("motion-fidelity", ("cotracker3",), {"protocol": "mtbench", "hybrid": True})
    assert (cols["ef_all"].metric, cols["ef_all"].options, cols["ef_all"].paper_scale) == \
        ("clip-text", {"protocol": "mtbench"}, 100)
    assert cols["tc_all"].metric == "dino-temporal-consistency" and cols["tc_hard"].category == ("hard",)


def test_reproduce_fills_the_all_columns_from_an_mtbench_run(tmp_path, fill):
    store = ResultsStore(tmp_path / "out")
    cases = {f"dance-twirl/{i}": 0.80 + 0.01 * i for i in range(5)}
    mf = "motion-fidelity[cotracker3,grid_size=50,hybrid=True,protocol=mtbench,use_mask=True]"
    fill(store, "r", {("motionclone", mf): cases},
         metric_configs={mf: {"name": "motion-fidelity", "version": "2", "backend": "cotracker3", "protocol": "mtbench",
                              "hybrid": True, "hybrid_seed": 0, "grid_size": 50, "use_mask": True,
                              "variant": "symmetric"}})
    store.close()
    md = reproduce(load_table("det-table1"), load_run(tmp_path / "out")).to_markdown()
    row = next(line for line in md.splitlines() if line.startswith("| ↳ evalkit motionclone"))
    assert "82.0 ± 0.7 (Δ +3.1)" in row  # MF All: mean of 80..84 ×100 against the printed 78.9
