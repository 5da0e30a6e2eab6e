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
