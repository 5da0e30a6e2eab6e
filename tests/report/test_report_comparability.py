"""Comparability: items matched by case content hash, every configuration difference listed,
seeds averaged per case before resampling, a verdict needs both the interval and the test,
small n warned about."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.report.compare import CompareSettings, compare_runs
from evalkit.report.leaderboard import build_leaderboard
from evalkit.report.sources import load_run
from evalkit.run.store import ResultsStore

CASES = [f"c{i}" for i in range(8)]


def _runs(tmp_path, fill, a: dict, b: dict, **b_options):
    store = ResultsStore(tmp_path / "s")
    fill(store, "a", a, plan={"dataset": {"name": "synthetic", "seeds": "0"}})
    fill(store, "b", b, **b_options)
    store.close()
    return load_run(f"{tmp_path / 's'}:a"), load_run(f"{tmp_path / 's'}:b")


def test_a_changed_dataset_variant_is_not_a_regression(tmp_path, fake_metrics, fill):
    """Defect: matching by case id alone, a changed dataset variant (same ids, other content)
    produced false REGRESSIONs (exit 1)."""
    good = {("copy", "fake-fidelity[fake-klt]"): {c: 0.9 + 0.01 * i for i, c in enumerate(CASES)}}
    harder = {("copy", "fake-fidelity[fake-klt]"): {c: 0.5 + 0.01 * i for i, c in enumerate(CASES)}}
    a, b = _runs(tmp_path, fill, good, harder, case_hashes={c: f"variant-{c}" for c in CASES},
                 plan={"dataset": {"name": "synthetic", "seeds": "0", "speed": 2.0}})
    cmp = compare_runs(a, b, CompareSettings(resamples=2000))
    assert not cmp.has_regression
    row = cmp.metrics.iloc[0]
    assert row["verdict"] == "incomparable" and row["n_pairs"] == 0
    assert "8 items of 8 case(s) whose content changed under the same id" in row["reason"]
    diffs = cmp.configuration_differences()
    assert "dataset: speed None -> 2.0" in diffs
    assert any(d.startswith("cases (matched by content hash): 0 shared, 8 changed content") for d in diffs)
    assert "Configuration differences (A vs B):" in cmp.to_markdown()


def test_every_configuration_difference_is_listed(tmp_path, fake_metrics, fill):
    vals = {("copy", "fake-leak"): {c: 0.1 for c in CASES}}
    a, b = _runs(tmp_path, fill, vals, vals,
                 generator_configs={"copy": {"name": "copy", "version": "2", "steps": 30}},
                 metric_configs={"fake-leak": {"name": "fake-leak", "version": "1", "backend": None, "pairing": "x"}})
    cmp = compare_runs(a, b, CompareSettings(resamples=500))
    diffs = cmp.configuration_differences()
    assert "generator copy: steps None -> 30" in diffs and "generator copy: version '1' -> '2'" in diffs
    assert "metric fake-leak: pairing None -> 'x'" in diffs
    assert "pairing: None vs 'x'" in cmp.metrics.iloc[0]["reason"]


def test_seeds_are_averaged_per_case_before_resampling(tmp_path, fake_metrics, fill):
    """Defect: (case, seed) pairs were resampled as independent: three identical seeds moved p
    from 0.0625 to 0.0006, and a regression was declared at n = 5 with p = 0.0625."""
    five = CASES[:5]
    a_vals = {("copy", "fake-fidelity[fake-klt]"): {c: [0.9] * 3 for c in five}}
    b_vals = {("copy", "fake-fidelity[fake-klt]"): {c: [0.5 + 0.01 * i] * 3 for i, c in enumerate(five)}}
    store = ResultsStore(tmp_path / "s")
    fill(store, "a", a_vals, seeds=(0, 1, 2))
    fill(store, "b", b_vals, seeds=(0, 1, 2))
    store.close()
    cmp = compare_runs(load_run(f"{tmp_path / 's'}:a"), load_run(f"{tmp_path / 's'}:b"),
                       CompareSettings(resamples=2000))
    row = cmp.metrics.iloc[0]
    assert row["n_pairs"] == 5                                # cases, not 15 (case, seed) pairs
    assert row["p_value"] == pytest.approx(0.0625)            # the exact two-sided Wilcoxon p of 5 cases
    assert row["ci_high"] < 0                                  # the interval alone says "worse"...
    # ...and the test cannot decide at n = 5 (smallest p 2/2^5): the interval decides, said so
    # (issue 27: "inconclusive" let a whole-interval drop pass the gate)
    assert row["verdict"] == "REGRESSION" and cmp.has_regression
    assert "small n: 5 paired cases" in row["reason"]
    assert "verdict from the interval alone: with 5 paired case(s) the Wilcoxon test cannot reach" in row["reason"]
    assert "**Warning: small n**" in cmp.to_markdown()


def test_a_regression_needs_the_interval_and_the_test(tmp_path, fake_metrics, fill):
    rng = np.random.default_rng(0)
    many = [f"c{i}" for i in range(20)]
    a = {("copy", "fake-fidelity[fake-klt]"): {c: 0.9 for c in many}}
    b = {("copy", "fake-fidelity[fake-klt]"): {c: float(0.8 + 0.01 * rng.standard_normal()) for c in many}}
    cmp = compare_runs(*_runs(tmp_path, fill, a, b), CompareSettings(resamples=2000))
    row = cmp.metrics.iloc[0]
    assert row["verdict"] == "REGRESSION" and row["p_value"] < 0.05 and row["n_pairs"] == 20
    assert "small n" not in row["reason"]


def test_the_leaderboard_matches_items_by_case_content(tmp_path, fake_metrics, fill):
    vals = {("copy", "fake-leak"): {c: 0.1 for c in CASES[:3]}}
    store = ResultsStore(tmp_path / "s")
    fill(store, "a", vals)
    fill(store, "b", {("static", "fake-leak"): {c: 0.05 for c in CASES[:3]}},
         case_hashes={c: f"other-{c}" for c in CASES})   # same ids, other videos
    store.close()
    lb = build_leaderboard([load_run(f"{tmp_path / 's'}:{r}") for r in ("a", "b")], ["fake-leak"])
    assert list(lb.ranked["generator"]) == ["copy"]
    assert "measured on 3 items (0 shared" in lb.apart.set_index("generator").loc["static", "reason"]


def test_reproduce_takes_the_overhead_base_on_the_same_items(tmp_path, fake_metrics, fill):
    """The base model's inference time is taken on the cases the method was timed on."""
    from evalkit.report.paper.reproduce import load_table, reproduce

    store = ResultsStore(tmp_path / "out")
    t = {"mbq": lambda c: (6.0, 0.0, 30.0), "vc2-base": lambda c: (0.0, 0.0, {"a": 30.0, "b": 40.0, "z": 400.0}[c])}
    fill(store, "r", {("mbq", "fake-leak"): {"a": 0.1, "b": 0.1},
                      ("vc2-base", "fake-leak"): {"a": 0.1, "b": 0.1, "z": 0.1}},
         timings=lambda g, c, s: t[g](c))
    store.close()
    rep = reproduce(load_table("mbq-table2"), load_run(tmp_path / "out"), {"VC2": "vc2-base"})
    cells = {(c.row, c.column): c for c in rep.cells}
    assert cells[("Ours", "overhead")].ours_mean == pytest.approx(36.0 / 35.0)   # not / 156.7 (with z)
    assert any("base vc2-base timed on the 2 cases it shares with mbq (of its 3)" in d for d in rep.differences)
