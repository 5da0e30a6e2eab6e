"""Protocol warnings surface (issue 27 item 2): the same frames tagged 24 fps instead of the
source's 8 make time-aligned Motion Fidelity compare 3 frames; the preflight, the run summary,
results.json and the report say so (before: only an unread ``details.notes``)."""
from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.metrics.time_alignment import align_counts
from evalkit.protocol import Facts, output_warnings
from evalkit.registry import DATASETS
from evalkit.video import write_video

SUITE = "synthetic[motions=translation+pan,num_frames=8]"
MF = "motion-fidelity[backend=klt,grid_size=12]"   # a coarse grid: fast, same protocol


def _submission(tmp_path, fps):
    sub = tmp_path / "sub"
    for case in DATASETS.get("synthetic")(motions="translation,pan", num_frames=8).cases():
        write_video(case.source.load(), sub / case.case_id)       # frame folders: the declared fps applies
    (sub / "submission.yaml").write_text(yaml.safe_dump({"method": "fixed-fps", "fps": fps}))
    return sub


def _run(tmp_path, sub):
    _load_commands()
    return CliRunner().invoke(app, ["run", SUITE, "-g", f"videos[dir={sub}]", "-m", MF, "--out", str(tmp_path / "runs"),
                                    "-q"])


def test_a_fixed_24_fps_tag_is_warned_about_everywhere(tmp_path):
    result = _run(tmp_path, _submission(tmp_path, 24))
    assert result.exit_code == 0, result.output
    kept = "time alignment compares only the first 3 of the source's 8 frames (< 50%)"
    assert "fixed-fps: 2 protocol warning(s); the items are scored" in result.output          # the preflight
    assert result.output.count(kept) >= 2
    assert "protocol warnings: 2 (the items are scored; listed in results.json and `evalkit report`)" \
        in result.output                                                                      # the run summary
    doc = json.loads(next((tmp_path / "runs" / "results").glob("*/results.json")).read_text())
    assert [(w["case_id"], w["metric"], w["warning"].split(":")[0]) for w in doc["protocol_warnings"]] == [
        ("synthetic-pan-s0", "motion-fidelity[klt,grid_size=12]", kept),
        ("synthetic-translation-s0", "motion-fidelity[klt,grid_size=12]", kept)]
    report = CliRunner().invoke(app, ["report", str(tmp_path / "runs")])
    assert "**Protocol warnings (2; the items are scored, check what they say):**" in report.output
    assert report.output.count("compares only the first 3 of the source's 8 frames") == 2
    html = CliRunner().invoke(app, ["report", str(tmp_path / "runs"), "--format", "html"])
    assert "<h3>Protocol warnings (2; the items are scored)</h3>" in html.output


def test_the_source_rate_gives_no_warning_and_a_rate_far_off_is_said(tmp_path):
    result = _run(tmp_path, _submission(tmp_path, 8))
    assert result.exit_code == 0 and "protocol warning" not in result.output, result.output
    facts = Facts(8, 8.0, 128, 160)
    assert output_warnings(facts, facts) == []
    far = output_warnings(facts, Facts(8, 48.0, 64, 160))
    assert far[0].startswith("output at 48 fps is ×6 the source's 8 fps (outside ×0.5–×4)")
    assert far[1] == "output is 64x160, the case expects 128x160 (the source's; metrics resize it)"
    assert align_counts(8, 8.0, 17, 16.0).warnings() == []          # MbQ's 2N+1 frames at 2f: all kept
    assert align_counts(8, 8.0, 8, 24.0).warnings() == [
        "time alignment compares only the first 3 of the source's 8 frames (< 50%): "
        "the two videos' durations differ (check the fps)"]
