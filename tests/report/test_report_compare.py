"""Regression tracking: paired bootstrap CI, paired test, verdicts, CLI exit codes, baselines."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from evalkit.cli import _load_commands
from evalkit.cli.app import app
from evalkit.report.compare import bootstrap_ci, compare_runs, paired_test
from evalkit.report.sources import load_run
from evalkit.run.store import ResultsStore

CASES = [f"c{i}" for i in range(8)]
RNG = np.random.default_rng(1)
COPY_MF = dict(zip(CASES, (0.9 + 0.05 * RNG.random(8)).round(4)))
NOISE_MF = dict(zip(CASES, (0.05 * RNG.standard_normal(8)).round(4)))
COPY_FLICKER = dict(zip(CASES, (0.97 + 0.01 * RNG.random(8)).round(4)))
NOISE_FLICKER = dict(zip(CASES, (0.6 + 0.01 * RNG.random(8)).round(4)))


def _values(copy_from_noise: bool = False) -> dict:
    mf, fl = (NOISE_MF, NOISE_FLICKER) if copy_from_noise else (COPY_MF, COPY_FLICKER)
    return {("copy", "fake-fidelity[fake-klt]"): mf, ("copy", "fake-leak"): fl,
            ("noise", "fake-fidelity[fake-klt]"): NOISE_MF, ("noise", "fake-leak"): NOISE_FLICKER}


@pytest.fixture
def two_runs(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "out")
    fill(store, "same-1", _values())
    fill(store, "same-2", _values())
    store.close()
    # a degraded release: the "copy" generator now produces what "noise" does
    bad = ResultsStore(tmp_path / "bad")
    fill(bad, "degraded", _values(copy_from_noise=True))
    bad.close()
    return tmp_path


def test_bootstrap_ci_known_answers():
    assert bootstrap_ci(np.zeros(5)) == (0.0, 0.0)
    d = np.array([1.0, 2.0, 3.0, 4.0])
    lo, hi = bootstrap_ci(d, resamples=10_000, seed=0)
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    assert (lo, hi) == bootstrap_ci(d, resamples=10_000, seed=0)  # fixed seed: reproducible
    # the percentile CI of a large normal sample is close to mean ± 1.96 sem
    x = np.random.default_rng(3).normal(1.0, 2.0, 400)
    lo, hi = bootstrap_ci(x, resamples=4000)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert abs(lo - (x.mean() - half)) < 0.05 and abs(hi - (x.mean() + half)) < 0.05


def test_paired_test():
    assert paired_test(np.zeros(6)) == 1.0
    assert paired_test(np.full(10, -0.5)) < 0.01
    assert paired_test(np.array([0.1, -0.1, 0.2, -0.2, 0.05, -0.05])) > 0.5
    assert paired_test(np.array([1.0, 1.2, 0.9, 1.1]), "t") < 0.01


def test_same_plan_no_regression(two_runs):
    c = compare_runs(load_run(f"{two_runs / 'out'}:same-1"), load_run(f"{two_runs / 'out'}:same-2"))
    assert not c.has_regression
    assert set(c.metrics["verdict"]) == {"same"}
    assert (c.metrics["n_pairs"] == 8).all() and (c.metrics["diff"] == 0).all()


def test_degraded_generator_flagged(two_runs):
    c = compare_runs(load_run(two_runs / "out"), load_run(two_runs / "bad"))
    reg = c.regressions
    assert set(zip(reg.generator, reg.metric)) == {("copy", "fake-fidelity[fake-klt]")}
    # fake-leak is lower-is-better: the degraded copy leaks less, which is an improvement
    row = c.metrics.set_index(["generator", "metric"]).loc[("copy", "fake-leak")]
    assert row["verdict"] == "improved" and row["ci_high"] < 0
    assert "**REGRESSION**" in c.to_markdown()


def test_config_change_is_incomparable(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "s")
    fill(store, "a", {("copy", "fake-leak"): {"c0": 0.1, "c1": 0.2}})
    fill(store, "b", {("copy", "fake-leak"): {"c0": 0.1, "c1": 0.2}},
               metric_configs={"fake-leak": {"name": "fake-leak", "version": "2", "backend": None}})
    c = compare_runs(load_run(f"{tmp_path / 's'}:a"), load_run(f"{tmp_path / 's'}:b"))
    assert c.metrics.iloc[0]["verdict"] == "incomparable"
    assert "metric definition differs" in c.metrics.iloc[0]["reason"]


def test_runtime_regression(tmp_path, fake_metrics, fill):
    store = ResultsStore(tmp_path / "s")
    vals = {("slow", "fake-leak"): {c: 0.1 for c in CASES}}
    fill(store, "a", vals, timings=lambda g, c, s: (1.0, 0.0, 10.0 + 0.1 * int(c[1:])))
    fill(store, "b", {("slow", "fake-leak"): {c: 0.1 for c in CASES}},
               generator_configs={"slow": {"name": "slow", "version": "2"}},
               timings=lambda g, c, s: (1.0, 0.0, 20.0 + 0.1 * int(c[1:])))
    c = compare_runs(load_run(f"{tmp_path / 's'}:a"), load_run(f"{tmp_path / 's'}:b"))
    reg = c.regressions.set_index("metric")
    assert set(reg.index) == {"runtime:inference", "runtime:total"}
    assert reg.loc["runtime:total", "diff"] == pytest.approx(10.0)


def test_cli_exit_codes_and_baseline(two_runs):
    _load_commands()
    runner = CliRunner()
    out = str(two_runs / "out")
    ok = runner.invoke(app, ["compare", f"{out}:same-1", f"{out}:same-2", "--resamples", "2000"])
    assert ok.exit_code == 0, ok.output
    assert "No regression." in ok.output
    bad = runner.invoke(app, ["compare", out, str(two_runs / "bad"), "--resamples", "2000"])
    assert bad.exit_code == 1, bad.output
    assert "REGRESSION" in bad.output
    # record a release baseline and compare against it
    rel = two_runs / "releases"
    saved = runner.invoke(app, ["baseline", "save", f"{out}:same-1", "--name", "v0.1", "--dir", str(rel)])
    assert saved.exit_code == 0, saved.output
    doc = json.loads((rel / "v0.1.json").read_text())
    assert doc["run_id"] == "same-1" and doc["run"]["provenance"]["git_commit"] == "abc123"
    assert len(doc["results"]) == 32
    again = runner.invoke(app, ["baseline", "save", out, "--name", "v0.1", "--dir", str(rel)])
    assert again.exit_code == 2 and "exists" in again.output
    assert runner.invoke(app, ["compare", str(rel / "v0.1.json"), f"{out}:same-2"]).exit_code == 0
    assert runner.invoke(app, ["compare", str(rel / "v0.1.json"), str(two_runs / "bad")]).exit_code == 1


# -- compare as a CI gate (issue 27 item 6) ----------------------------------------------------

def _gate(*args: str):
    _load_commands()
    return CliRunner().invoke(app, ["compare", "--resamples", "2000", "--no-runtime", *args])


def test_runs_sharing_no_case_are_an_error_not_no_regression(tmp_path, fake_metrics, fill):
    """Defect: two unrelated runs (0 shared cases) printed "No regression." and exited 0."""
    store = ResultsStore(tmp_path / "s")
    fill(store, "a", {("copy", "fake-leak"): {"c0": 0.1, "c1": 0.2}})
    fill(store, "b", {("copy", "fake-leak"): {"d0": 0.9, "d1": 0.9}})
    store.close()
    a, b = f"{tmp_path / 's'}:a", f"{tmp_path / 's'}:b"
    gate = _gate(a, b)
    assert gate.exit_code == 2, gate.output
    assert gate.output.strip().splitlines() == [
        "error: the runs share 0 case(s) (matched by content hash), fewer than --min-shared 1: not comparable; "
        "--allow-partial compares what there is"]
    assert _gate(a, b, "--allow-partial").exit_code == 0
    few = _gate(a, f"{tmp_path / 's'}:a", "--min-shared", "3")
    assert few.exit_code == 2 and "share 2 case(s)" in few.output


def test_a_large_drop_over_five_cases_is_a_regression_said_to_follow_the_interval(tmp_path, fake_metrics, fill):
    """Defect: with n < 6 the Wilcoxon test cannot reach p < 0.05, so a 27-point drop whose whole
    interval lies below zero was "inconclusive" and the gate passed (exit 0)."""
    cases = [f"c{i}" for i in range(5)]
    before = dict(zip(cases, [0.96, 0.95, 0.97, 0.94, 0.96]))
    store = ResultsStore(tmp_path / "s")
    fill(store, "a", {("copy", "fake-fidelity[fake-klt]"): before})
    fill(store, "b", {("copy", "fake-fidelity[fake-klt]"): {c: v - 0.27 + 0.01 * i
                                                            for i, (c, v) in enumerate(before.items())}})
    store.close()
    c = compare_runs(load_run(f"{tmp_path / 's'}:a"), load_run(f"{tmp_path / 's'}:b"))
    row = c.metrics.iloc[0]
    assert row["ci_high"] < 0 and row["p_value"] >= 0.05
    assert row["verdict"] == "REGRESSION"
    assert "verdict from the interval alone: with 5 paired case(s) the Wilcoxon test cannot reach p < 0.05" \
        in row["reason"]
    assert _gate(f"{tmp_path / 's'}:a", f"{tmp_path / 's'}:b").exit_code == 1


@pytest.mark.parametrize("option, value, says", [
    ("--rel-tolerance", "nan", "--rel-tolerance nan: must be a finite number ≥ 0"),
    ("--tolerance", "-1", "--tolerance -1.0: must be a finite number ≥ 0"),
    ("--runtime-tolerance", "inf", "--runtime-tolerance inf: must be a finite number ≥ 0"),
    ("--resamples", "0", "--resamples 0: must be a whole number ≥ 1"),
    ("--test", "z", "--test 'z': must be wilcoxon or t"),
    ("--min-shared", "0", "--min-shared 0: must be ≥ 1"),
])
def test_bad_compare_settings_are_one_error_line(two_runs, option, value, says):
    """Defect: --rel-tolerance nan and --tolerance -1 were accepted (every change passed), and
    --resamples 0 crashed with two tracebacks."""
    out = str(two_runs / "out")
    result = _gate(f"{out}:same-1", f"{out}:same-2", option, value)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [f"error: {says}"]
