"""Progress of `evalkit run` on every stream (issue 27 item 11): plain lines when stderr is not a
terminal, a bar that advances while a window's metrics run, one clear line on Ctrl-C/SIGTERM,
and a killed run that reads 'interrupted' once its process is gone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import plugins_for_tests  # noqa: F401  (registers test-* plugins)
from typer.testing import CliRunner

import evalkit
from evalkit.cases import Generation
from evalkit.cli import _load_commands, app
from evalkit.generators.base import Generator
from evalkit.metrics.base import Metric, MetricResult, MetricSpec
from evalkit.registry import GENERATORS, METRICS
from evalkit.report.sources import load_run
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import ResultsStore

_load_commands()
EVALKIT_ROOT = Path(evalkit.__file__).parents[1]


@GENERATORS.register("test-signal-at")
class SignalAt(Generator):
    """Copies the source; sends this process ``signal`` when it reaches case ``at``."""
    case_kinds = ("motion-transfer",)
    weight_free = True
    defaults = {"at": "", "signal": "SIGINT"}

    def generate(self, case, seed):
        if case.case_id == self.options["at"]:
            os.kill(os.getpid(), getattr(signal, self.options["signal"]))
            time.sleep(1)   # the handler raises here
        return Generation((case.source.load(),))


@METRICS.register("test-slow-mean")
class SlowMean(Metric):
    """A host metric that takes a while, so a window of them is long enough to watch."""
    spec = MetricSpec(name="test-slow-mean", higher_is_better=True, value_range=(0, 255),
                      case_kinds=("motion-transfer",), reference="tests")

    def compute(self, case, generation, ctx):
        time.sleep(0.05)
        return MetricResult(float(np.mean(generation.video.frames)))


def _plan(gen=ComponentSpec("test-copy"), n=4, metrics=("test-brightness",)) -> Plan:
    return Plan(ComponentSpec("test-squares", {"n": n}), (gen,), tuple(ComponentSpec(m) for m in metrics))


def test_progress_log_writes_a_line_every_n_seconds_and_the_last_state_at_the_end():
    from evalkit.cli.progress import ProgressLog

    now = [0.0]
    lines: list[str] = []
    with ProgressLog(lines.append, every=30, clock=lambda: now[0]) as log:
        for done, t in [(0, 0), (1, 10), (2, 20), (3, 31), (4, 40)]:
            now[0] = t
            log.update(f"item {done}", done, 10, values=2 * done, failed=0)
    assert len(lines) == 3   # the first update, 30 s later, and the last state when the block ends
    assert lines[0].startswith("progress: 0/10 items (0%), 0 values, 0 failed, elapsed 0s, ETA unknown; item 0")
    assert lines[1] == "progress: 3/10 items (30%), 6 values, 0 failed, elapsed 31s, ETA 1m12s; item 3"
    assert lines[2] == "progress: 4/10 items (40%), 8 values, 0 failed, elapsed 40s, ETA 1m00s; item 4"


def test_progress_advances_while_a_windows_metrics_run(tmp_path):
    """Defect: the bar sat at 0/N while the first window's metrics ran."""
    seen: list[tuple[float, int]] = []
    plan = _plan(n=4, metrics=("test-slow-mean", "test-brightness"))   # one window of 4 items, 8 values
    run_plan(plan, tmp_path, progress=lambda desc, done, total, **_: seen.append((done, total)))
    assert seen[-1] == (4, 4)
    within = [d for d, _ in seen if 0 < d < 4]
    assert within and any(d != int(d) for d in within)   # fractions of the window's items, before it ends
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_not_a_terminal_gets_progress_lines(tmp_path):
    """Defect: nothing was printed until the end when stderr was not a TTY (batch jobs, logs)."""
    res = CliRunner().invoke(app, ["run", "test-squares", "-g", "test-copy", "-m", "test-brightness",
                                   "--out", str(tmp_path), "--progress-every", "0"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("progress: ")]
    assert lines[0].startswith("progress: 0/3 items (0%)")
    assert lines[-1].startswith("progress: 3/3 items (100%), 3 values, 0 failed, elapsed ")
    assert "ETA 0s; done" in lines[-1]
    quiet = CliRunner().invoke(app, ["run", "test-squares", "-g", "test-copy", "-m", "test-brightness",
                                     "--out", str(tmp_path / "q"), "-q"])
    assert "progress:" not in quiet.stderr


def test_ctrl_c_and_sigterm_print_one_line_and_record_the_run_interrupted(tmp_path):
    """Defect: Ctrl-C and SIGTERM printed nothing."""
    for sig, code in (("SIGINT", 130), ("SIGTERM", 143)):
        out = tmp_path / sig
        res = CliRunner().invoke(app, ["run", "test-squares[n=3]", "-g", f"test-signal-at[at=sq2,signal={sig}]",
                                       "-m", "test-brightness", "--out", str(out), "-q"])
        assert res.exit_code == code, res.output
        (line,) = [x for x in res.stderr.splitlines() if x.startswith("interrupted")]
        why = "SIGTERM" if sig == "SIGTERM" else "Ctrl-C"
        assert line.startswith(f"interrupted ({why}) after ") and " of 3 items: run " in line
        assert f"is recorded as interrupted in {out / 'evalkit.sqlite'}" in line and "re-run the same command" in line
        assert load_run(str(out)).status == "interrupted"


def test_a_run_whose_process_was_killed_reads_interrupted(tmp_path):
    """Defect: after SIGKILL the run read 'running' forever. A live process's run reads
    running; once the process is gone, interrupted (the store's record is left as it was)."""
    store = ResultsStore(tmp_path)
    store.start_run("r1", {"dataset": {"name": "test-squares"}}, {}, 3)
    store.close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from evalkit.run.run_lock import holding
        with holding({str(tmp_path)!r}, "r1"):
            print("held", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(EVALKIT_ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert load_run(str(tmp_path)).status == "running"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert load_run(str(tmp_path)).status == "interrupted"
    store = ResultsStore(tmp_path)
    try:
        assert store.runs()["status"].tolist() == ["interrupted"]
    finally:
        store.close()
    # a run this very process works on reads running (its lock is held through another descriptor)
    seen = []
    run_plan(_plan(n=1), tmp_path / "live", progress=lambda *a, **k: seen.append(
        load_run(str(tmp_path / "live")).status if (tmp_path / "live" / "evalkit.sqlite").exists() else None))
    assert "running" in seen and load_run(str(tmp_path / "live")).status == "complete"
