"""`evalkit run` end to end on the synthetic suite: the issue's acceptance criteria."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.report.sources import load_run
from evalkit.run.store import ResultsStore

_load_commands()
# a reduced quick start (the README's runs the full default suite; see the slow test below)
SMALL = ["synthetic[num_frames=10,height=96,width=128]"]


def table(out) -> pd.DataFrame:
    store = ResultsStore(out)
    try:
        df = store.results(store.latest_run_id())
    finally:
        store.close()
    return df.pivot_table(index="generator", columns="metric_name", values="value", aggfunc="mean")


def check_leaderboard(t: pd.DataFrame) -> None:
    mf, flicker = t["motion-fidelity"], t["temporal-flicker"]
    assert mf["copy"] >= 0.95
    assert mf["reverse"] < 0
    others = mf.drop(["static", "noise", "reverse"])
    assert max(mf["static"], mf["noise"]) < others.min()
    assert flicker["static"] == 1.0


def test_run_prints_leaderboard_and_second_run_recomputes_nothing(tmp_path):
    runner = CliRunner()
    args = ["run", SMALL[0], "--out", str(tmp_path), "--quiet"]
    start = time.perf_counter()
    first = runner.invoke(app, args)
    first_s = time.perf_counter() - start
    assert first.exit_code == 0, first.output
    assert "| copy |" in first.stdout and "motion-fidelity[klt]" in first.stdout
    check_leaderboard(table(tmp_path))
    start = time.perf_counter()
    second = runner.invoke(app, args)
    second_s = time.perf_counter() - start
    assert second.exit_code == 0
    assert "0 generated" in second.output and "0 metric values computed" in second.output
    first_line, second_line = (" ".join(r.output.split()) for r in (first, second))   # rich wraps lines
    assert re.search(r"load: copy \d+\.\d+ s, ", first_line)   # each generator's load stage
    assert "load: none" in second_line                          # all cached: nothing loaded
    assert second_s < first_s / 10
    assert second.stdout == first.stdout  # the same leaderboard


def test_unknown_plugin_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(app, ["run", "synthetic", "--generators", "copyy", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "did you mean copy" in result.output


def test_kind_mismatch_is_one_error_line_and_leaves_no_store(tmp_path):
    """Defect: a motion-transfer generator (`vanilla` then, `mbq` now that `vanilla` takes every case
    kind) on a multi-shot suite used to run and record 0 items."""
    for extra in (["--generators", "mbq"], ["--metrics", "motion-fidelity"]):
        result = CliRunner().invoke(app, ["run", "multishot-story", *extra, "--out", str(tmp_path / "out")])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "multi-shot" in lines[0]
        assert extra[1] in lines[0]
        assert not (tmp_path / "out").exists()


def test_sigkill_mid_run_then_rerun_gives_identical_numbers(tmp_path):
    cmd = [sys.executable, "-m", "evalkit.cli", "run", SMALL[0], "-g", "copy,reverse,static", "-q"]
    subprocess.run(cmd + ["--out", str(tmp_path / "ref")], check=True, capture_output=True)
    proc = subprocess.Popen(cmd + ["--out", str(tmp_path / "killed")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    store_file = tmp_path / "killed" / "evalkit.sqlite"
    deadline = time.time() + 60
    while time.time() < deadline:  # kill once some but not all values are stored
        if store_file.exists():
            s = ResultsStore(tmp_path / "killed")
            n = len(s.results()) if s.runs().shape[0] else 0
            s.close()
            if n >= 3:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_run(str(tmp_path / "killed")).status == "interrupted"   # not 'running' forever
    subprocess.run(cmd + ["--out", str(tmp_path / "killed")], check=True, capture_output=True)
    pd.testing.assert_frame_equal(table(tmp_path / "ref"), table(tmp_path / "killed"))


@pytest.mark.slow
def test_readme_quick_start(tmp_path):
    result = CliRunner().invoke(app, ["run", "synthetic", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    check_leaderboard(table(tmp_path))
