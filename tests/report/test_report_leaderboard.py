"""Leaderboard: ranking by spec direction, provenance per row, incomparable entries apart."""
from __future__ import annotations

from evalkit.report.leaderboard import build_leaderboard
from evalkit.report.sources import load_run
from evalkit.run.store import ResultsStore


def test_rank_and_apart(tmp_path, fake_metrics, fill):
    s = ResultsStore(tmp_path / "s")
    cases = ["a", "b", "c"]
    fill(s, "r1", {("good", "fake-leak"): dict(zip(cases, [0.1, 0.1, 0.2])),
                         ("bad", "fake-leak"): dict(zip(cases, [0.5, 0.6, 0.7])),
                         ("good", "fake-fidelity[fake-klt]"): dict(zip(cases, [0.9, 0.8, 0.9])),
                         ("bad", "fake-fidelity[fake-klt]"): dict(zip(cases, [0.1, 0.2, 0.3]))},
               generator_configs={"good": {"name": "good", "version": "1", "backbone": "wan2.1-1.3b"}})
    # another run: one generator on fewer cases, one with a different metric definition
    fill(s, "r2", {("partial", "fake-leak"): {"a": 0.0}, ("partial", "fake-fidelity[fake-klt]"): {"a": 1.0}})
    fill(s, "r3", {("other", "fake-leak"): dict(zip(cases, [0.0] * 3)),
                         ("other", "fake-fidelity[fake-klt]"): dict(zip(cases, [1.0] * 3))},
               metric_configs={"fake-leak": {"name": "fake-leak", "version": "2", "backend": None}})
    runs = [load_run(f"{tmp_path / 's'}:{r}") for r in ("r1", "r2", "r3")]
    lb = build_leaderboard(runs, ["fake-leak", "fake-fidelity[fake-klt]"])
    assert list(lb.ranked["generator"]) == ["good", "bad"]
    assert list(lb.ranked["rank"]) == [1, 2]
    top = lb.ranked.iloc[0]
    assert top["run"] == "r1" and top["commit"] == "abc123" and top["device"] == "cpu"
    assert "backbone=wan2.1-1.3b" in top["weights"] and "fake-klt:org/fake-checkpoint" in top["weights"]
    assert top["fake-leak ×100 ↓"] == "13.3 ± 3.3"
    apart = lb.apart.set_index("generator")
    assert "measured on 2 items (2 shared with the leaderboard's 6" in apart.loc["partial", "reason"]
    assert "fake-leak definition differs (version: '1' vs '2')" in apart.loc["other", "reason"]
    md = lb.to_markdown()
    assert "Not ranked" in md and "| 1 | good |" in md
    tex = lb.to_latex()
    assert r"1 & good & " in tex and r"13.3 $\pm$ 3.3" in tex and tex.count("{") == tex.count("}")
