"""``evalkit data check``: every problem on its own line, exit 1 when any exists."""
from __future__ import annotations

from typer.testing import CliRunner

from evalkit.cli import _load_commands
from evalkit.cli.app import app


def check(*args):
    _load_commands()
    return CliRunner().invoke(app, ["data", "check", *args])


def test_valid_suites_exit_zero(shared_data):
    r = check("davis-motion-transfer", "--root", str(shared_data), "-o",
              "sequences=blackswan,libby,car-roundabout,bmx-trees")
    assert r.exit_code == 0, r.output
    assert "ok: davis-motion-transfer: 12 cases" in r.output
    assert check("motion_transfer_public", "--root", str(shared_data)).exit_code == 0  # a manifest name
    assert check("multishot-story").exit_code == 0


def test_every_missing_sequence_is_listed(shared_data):
    r = check("davis-motion-transfer", "--root", str(shared_data / "davis"))
    assert r.exit_code == 1
    lines = [line for line in r.output.splitlines() if ": frames " in line]
    assert len(lines) == 46  # 50 sequences, 4 in the test copy
    assert f"bear: frames {shared_data / 'davis' / 'JPEGImages' / '480p' / 'bear'} not found" in lines
    assert "46 problem(s)" in r.output


def test_manifest_path_and_schema_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nkind: motion-transfer\nitems:\n  - {id: a, source: a.mp4, targets: "
                   "[{prompt: x, category: weird}]}\n  - {id: b, targets: []}\n")
    r = check(str(bad), "--root", str(tmp_path))
    assert r.exit_code == 1
    assert f"{bad}: items.1.source: required field missing" in r.output
    assert f"{bad}: items.1.targets: List should have at least 1 item after validation, not 0" in r.output
    assert f"{bad}: items.0 (a).targets.0: unknown category 'weird'" in r.output


def test_files_checked_against_a_user_manifest(shared_data, tmp_path):
    m = tmp_path / "mine.yaml"
    m.write_text("version: 1\nkind: motion-transfer\nitems:\n"
                 "  - {id: x, source: videos/car-turn.mp4, frame_range: {end: 80}, targets: [{prompt: p}]}\n"
                 "  - {id: y, source: videos/none.mp4, targets: [{prompt: q}]}\n")
    r = check(str(m), "--root", str(shared_data))
    assert r.exit_code == 1
    assert "x: source" in r.output and "has 70 frames, below the frame range end 80" in r.output
    assert "y: source" in r.output and "none.mp4 not found" in r.output


def test_no_root_and_bad_option(shared_data, monkeypatch):
    monkeypatch.delenv("EVALKIT_DATA_ROOT", raising=False)
    r = check("dreambooth-personalization")
    assert r.exit_code == 1 and "no data root; pass --root DIR" in r.output
    r = check("dreambooth-personalization", "--root", str(shared_data), "-o", "colour=red")
    assert r.exit_code == 1 and "unknown option(s) 'colour'" in r.output
