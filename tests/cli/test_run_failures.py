"""`evalkit run` makes failures visible: reasons grouped with counts, the run's status, exit 1
when items failed (``--allow-failures`` relaxes it); `baseline save` refuses an incomplete run."""
from __future__ import annotations

import json

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app

_load_commands()


def _run(*args):
    return CliRunner().invoke(app, ["run", *args, "-q"])


def test_the_readme_real_run_without_weights_exits_1_with_the_reason(tmp_path, shared_data):
    """Defect: the README's first real-run command exited 0 with every item failed, printed
    no reason and marked the run complete."""
    result = _run("davis-motion-transfer", "--root", str(shared_data / "davis"), "--generators",
                  "vanilla[backbone=wan2.1-1.3b]", "--metrics", "temporal-flicker", "--limit", "2",
                  "--device", "cpu", "--out", str(tmp_path))
    assert result.exit_code == 1, result.output
    err = result.stderr
    assert "status failed: 2 of 2 results failed" in err
    (line,) = [l for l in err.splitlines() if l.lstrip().startswith("2 × vanilla")]
    assert "Wan-AI/Wan2.1-T2V-1.3B-Diffusers' not found offline" in line and "[environment" in line
    assert "--allow-failures" in err.splitlines()[-1]
    assert "— (2/2 failed)" in result.stdout


def test_a_rerun_reports_the_runs_failures_not_zero(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    args = (f"test-squares[n=2,missing={bad}]", "-g", "test-copy", "-m", "test-brightness", "--out",
            str(tmp_path / "out"))
    first, second = _run(*args), _run(*args)
    for result in (first, second):
        assert result.exit_code == 1
        assert "status partial: 2 of 3 results ok, 1 failed" in result.stderr
        assert any(l.lstrip().startswith("1 × test-copy / test-brightness: generation failed: ")
                   and "bad.mp4" in l for l in result.stderr.splitlines())
    assert "0 generated" in second.stderr
    assert _run(*args, "--allow-failures").exit_code == 0


def test_the_summary_is_never_wrapped(tmp_path):
    """Defect: rich hard-wrapped the summary line at 80 columns when not on a terminal."""
    result = _run("test-squares[n=1]", "-g", "test-copy", "-m", "test-brightness", "--out", str(tmp_path))
    assert result.exit_code == 0
    (line,) = [l for l in result.stderr.splitlines() if l.startswith("run ")]
    assert line.endswith(f"store {tmp_path / 'evalkit.sqlite'}") and len(line) > 80
    assert "status complete: 1 of 1 results ok" in result.stderr


def test_baseline_save_refuses_an_incomplete_run(tmp_path):
    """Defect: `baseline save` recorded an all-failed run without a word."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    _run(f"test-squares[n=0,missing={bad}]", "-g", "test-copy", "-m", "test-brightness", "--out", str(tmp_path / "o"))
    save = ["baseline", "save", str(tmp_path / "o"), "--name", "v1", "--dir", str(tmp_path / "b")]
    refused = CliRunner().invoke(app, save)
    assert refused.exit_code == 2 and not (tmp_path / "b" / "v1.json").exists()
    assert "Run status: failed (1 of 1 results failed)" in refused.stderr and "--allow-incomplete" in refused.stderr
    saved = CliRunner().invoke(app, save + ["--allow-incomplete"])
    assert saved.exit_code == 0 and "warning: Run status: failed" in saved.stderr
    doc = json.loads((tmp_path / "b" / "v1.json").read_text())
    assert doc["run"]["status"] == "failed" and doc["run"]["expected"] == 1


def test_the_readme_real_run_command_as_written_explains_itself(tmp_path, shared_data):
    """The README's first real-run command, as written (data root and output swapped in), on a
    machine without weights or GPU: exit 1 with the missing checkpoint named, not exit 0."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"^evalkit run davis-motion-transfer .*?(?<!\\)\n", readme, re.M | re.S).group(0)
    args = shlex.split(block.replace("\\\n", " "), comments=True)[2:]   # after "evalkit run"
    assert "--device" not in args or args[args.index("--device") + 1] == "auto"   # nothing assumes a GPU
    args[args.index("--root") + 1] = str(shared_data / "davis")
    args[args.index("--out") + 1] = str(tmp_path / "davis")
    result = _run(*args, "--limit", "1")
    assert result.exit_code == 1, result.output
    assert "status failed: " in result.stderr and "not found offline" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
