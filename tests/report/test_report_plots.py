"""Plots: the numbers behind each plot (known answers) and that a PNG comes out."""
from __future__ import annotations

import pandas as pd
import pytest

from evalkit.errors import EvalkitError
from evalkit.report import plots
from evalkit.run.store import ResultsStore

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep(tmp_path, fake_metrics, fill):
    """An injection-fraction sweep: fidelity rises and leak rises with the fraction."""
    store = ResultsStore(tmp_path / "s")
    vals, cfgs, cats = {}, {}, {"a": "same-subject", "b": "same-subject", "c": "different-subject",
                                "d": "different-subject"}
    for f in (0.2, 0.4, 0.6):
        g = f"mbq-{f}"
        cfgs[g] = {"name": "mbq", "version": "1", "injection_fraction": f}
        vals[(g, "fake-fidelity[fake-klt]")] = {c: f + (0.1 if c in "ab" else 0.0) for c in "abcd"}
        vals[(g, "fake-leak")] = {"a": f / 2, "b": f / 2 + 0.02, "c": f / 3, "d": f / 3}
    vals[("copy", "fake-leak")] = {c: 0.9 for c in "abcd"}   # no fraction: not on the trade-off plot
    fill(store, "r", vals, generator_configs=cfgs, categories=cats,
               timings=lambda g, c, s: (1.0, 0.0, 4.0) if g.startswith("mbq") else (0.0, 0.0, 2.0))
    return store.results("r"), store.generations("r")


def test_tradeoff_data_known_values(sweep):
    res, _ = sweep
    d = plots.tradeoff_data(res, ["fake-fidelity[fake-klt]", "fake-leak"])
    row = d[(d.x == 0.4) & (d.category == "same-subject") & (d.metric == "fake-leak")].iloc[0]
    assert row["mean"] == pytest.approx((0.2 + 0.22) / 2 * 100)   # ×100 report scale
    assert row["sem"] == pytest.approx(1.0)                         # std(20, 22)/√2 = 1.414/1.414
    assert set(d["x"]) == {0.2, 0.4, 0.6}
    assert plots.tradeoff_plot(res, ["fake-fidelity[fake-klt]", "fake-leak"]).startswith(PNG)
    with pytest.raises(EvalkitError, match="injection_fraction"):
        plots.tradeoff_plot(res[res.generator == "copy"], ["fake-leak"])


def test_pareto_front_known_answer():
    pts = pd.DataFrame({"x": [1.0, 2.0, 3.0, 2.0], "y": [3.0, 2.0, 1.0, 1.0]}, index=list("abcd"))
    assert plots.pareto_front(pts, True, True) == ["a", "b", "c"]       # d is dominated by b
    assert plots.pareto_front(pts, True, False) == ["c"]                 # c: max x, min y
    assert sorted(plots.pareto_front(pts, False, False)) == ["a", "d"]   # min x / min y corners


def test_pareto_plot_uses_spec_directions(sweep):
    res, _ = sweep
    pts, front = plots.pareto_data(res, "fake-fidelity[fake-klt]", "fake-leak")
    # fidelity ↑ and leak ↓: every fraction trades one for the other, so all sweep points are on the front
    assert set(front) == {"mbq-0.2", "mbq-0.4", "mbq-0.6"}
    assert plots.pareto_plot(res, "fake-fidelity[fake-klt]", "fake-leak").startswith(PNG)


def test_runtime_overhead(sweep):
    _, gens = sweep
    d = plots.runtime_data(gens, base="copy").set_index("generator")
    assert d.loc["mbq-0.2", "total"] == pytest.approx(5.0)
    assert d.loc["mbq-0.2", "overhead"] == pytest.approx(2.5)   # 5 s / copy's 2 s inference
    assert plots.runtime_plot(gens, base="copy").startswith(PNG)


def test_tradeoff_fraction_from_generation_extras(sweep):
    res, _ = sweep
    res = res.copy()
    res["generator_config"] = '{"name": "mbq", "injection_fraction": null}'   # left to the backbone default
    extras = {k: {"injection_fraction": 0.4} for k in res["generation_key"]}
    d = plots.tradeoff_data(res, ["fake-leak"], extras=extras)
    assert set(d["x"]) == {0.4}
    assert plots.tradeoff_data(res, ["fake-leak"]).empty
