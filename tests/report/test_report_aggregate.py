"""Aggregation: the unit of the mean ± S.E.M. (cases, or every video of a multi-shot set)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from evalkit.errors import EvalkitError
from evalkit.report.paper.reproduce import load_table, reproduce
from evalkit.report.sources import RunData

SETS, SHOTS = 30, 5


def _multishot_results(drop_per_video: str | None = None) -> pd.DataFrame:
    """30 sets × 5 shots, as Motion by Queries Table 3: one dynamic shot in each of sets 0-4
    (5 of 150 videos): dynamic degree is 5/150 either way, but its S.E.M. is over 150 videos
    (1.47, the paper's ±1.5) or over 30 set fractions (1.38)."""
    rows = []
    for s in range(SETS):
        shots = [1.0 if (s < 5 and k == 0) else 0.0 for k in range(SHOTS)]
        for metric, backend, value, details in (
                ("dynamic-degree", "raft", sum(shots) / SHOTS, {"per_video": shots}),
                ("set-consistency", "dino-vitb16", 0.6 + 0.01 * (s % 3), {"frames": 80})):
            if f"set{s:02d}" == drop_per_video and metric == "dynamic-degree":
                details = {}
            rows.append({"run_id": "r", "case_id": f"set{s:02d}", "case_kind": "multi-shot", "category": "",
                         "generator": "storyboard", "seed": 0,
                         "generator_config": json.dumps({"name": "storyboard", "backbone": "videocrafter2"}),
                         "metric": metric, "metric_name": metric, "backend": backend,
                         "metric_config": json.dumps({"name": metric, "version": "1", "backend": backend}),
                         "status": "ok", "value": value, "error": "", "details": json.dumps(details),
                         "generation_key": f"g{s}", "metric_key": f"m{s}{metric}"})
    return pd.DataFrame(rows)


def test_multishot_error_bars_over_videos_as_the_paper():
    """MbQ Table 3 prints Dynamic Degree 3.3 ± 1.5 for 5 dynamic videos of 150: the S.E.M. over videos."""
    run = RunData("r", _multishot_results(), pd.DataFrame(), {})
    rep = reproduce(load_table("mbq-table3"), run)
    dyn = next(c for c in rep.cells if c.row == "Ours + VideoCrafter2" and c.column == "dyn")
    assert dyn.n == 150
    assert dyn.ours_mean == pytest.approx(100 * 5 / 150)
    assert dyn.ours_sem == pytest.approx(100 * (5 / 150 * 145 / 150 * 150 / 149 / 150) ** 0.5)   # 1.47
    msc = next(c for c in rep.cells if c.row == "Ours + VideoCrafter2" and c.column == "msc")
    assert msc.n == 30                                   # a set-level metric stays per set
    md = rep.to_markdown()
    assert "3.3 ± 1.5 (Δ -16.7)" in md
    assert "Dynamic Degree: mean ± S.E.M. over 150 videos (the paper's unit)" in md


def test_report_offers_the_unit():
    from evalkit.report.tables import summary_table

    res = _multishot_results()
    per_set = summary_table(res)
    per_video = summary_table(res, over="videos")
    # a set's value is its fraction of dynamic shots (5 sets at 0.2): mean 3.33, S.E.M. over 30 sets
    assert per_set.cells.loc["storyboard", "dynamic-degree ×100 ↑"] == "3.33 ± 1.38"
    assert per_video.cells.loc["storyboard", "dynamic-degree ×100 ↑"] == "3.33 ± 1.47"    # 5 of 150 videos
    assert per_video.cells.loc["storyboard", "set-consistency ×100 ↑"] == per_set.cells.loc[
        "storyboard", "set-consistency ×100 ↑"]
    notes = "\n".join(per_video.footnotes)
    assert "mean ± S.E.M. over videos" in notes
    assert "set-consistency: over sets (no per-video values recorded)" in notes


def test_missing_per_video_values_are_an_error():
    with pytest.raises(EvalkitError, match=r"dynamic-degree.*set03.*per_video"):
        from evalkit.report.aggregate import aggregate

        aggregate(_multishot_results(drop_per_video="set03"), over="videos")
