"""Integrity: artifacts are checked against their recorded digest and regenerated when missing
or changed; temporary files of killed processes are cleaned at start; reports open the store
read-only; a corrupt or unwritable store is one error line; duplicate case ids are refused."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pandas as pd
import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest
from stored_values import stored_results
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.errors import EvalkitError
from evalkit.run.artifacts import ArtifactIntegrityError, content_digest, load_videos, write_artifact
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import STORE_FILENAME, ResultsStore
from evalkit.run.store_errors import StoreError

_load_commands()


def _plan(*metrics) -> Plan:
    return Plan(ComponentSpec("test-squares", {"n": 2}), (ComponentSpec("test-copy"),),
                metrics or (ComponentSpec("test-brightness"),))


def _values(out, run_id) -> pd.Series:
    return stored_results(out, run_id).set_index(["case_id", "metric"])["value"].sort_index()


def _artifacts(out) -> dict[str, str]:
    store = ResultsStore(out)
    try:
        g = store.generations()
    finally:
        store.close()
    return dict(zip(g["case_id"], g["artifact"]))


def test_a_replaced_artifact_is_regenerated_not_measured(tmp_path):
    """Defect: an artifact replaced by another valid file was measured (Motion Fidelity 51.8
    for `copy`, true 100.0) with 0 failures."""
    both = (ComponentSpec("test-brightness"), ComponentSpec("test-brightness", {"channel": 1}))
    clean = run_plan(_plan(*both), tmp_path / "clean")
    run_plan(_plan(), tmp_path / "out")
    arts = _artifacts(tmp_path / "out")
    a, b = (tmp_path / "out" / arts[c] for c in ("sq0", "sq1"))
    tmp = a.read_bytes()
    a.write_bytes(b.read_bytes())   # sq0's artifact is now sq1's frames: a valid file
    b.write_bytes(tmp)
    with pytest.raises(ArtifactIntegrityError, match="changed since it was generated"):
        store = ResultsStore(tmp_path / "out")
        record = store.generation(store.generations()["key"].iloc[0])
        store.close()
        load_videos(tmp_path / "out" / record["artifact"], record["artifact_digest"])
    again = run_plan(_plan(*both), tmp_path / "out")   # a new metric needs the frames
    assert again.regenerated == 2 and again.failed == 0
    pd.testing.assert_series_equal(_values(tmp_path / "out", clean.run_id), _values(tmp_path / "clean", clean.run_id))


def test_a_deleted_artifact_is_regenerated(tmp_path):
    """Defect: a deleted artifact was never regenerated, even with --retry-failed."""
    run_plan(_plan(), tmp_path)
    path = tmp_path / _artifacts(tmp_path)["sq0"]
    digest = content_digest(path)
    path.unlink()
    again = run_plan(_plan(), tmp_path)
    assert (again.regenerated, again.generated, again.computed) == (1, 1, 0)   # the value was still valid
    assert path.is_file() and content_digest(path) == digest


def test_temporary_files_of_dead_processes_are_removed_at_start(tmp_path):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    host = socket.gethostname().replace("-", "_")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = folder / f".tmp-{host}-{dead}-abc.npz"
    live = folder / f".tmp-{host}-{os.getpid()}-def.npz"   # a concurrent runner's file in flight
    stale.write_bytes(b"half written")
    live.write_bytes(b"being written")
    summary = run_plan(_plan(), tmp_path)
    assert not stale.exists() and live.exists() and summary.cleaned == 1
    assert not [f for f in folder.iterdir() if f.name.startswith(".tmp-") and f != live]


def test_artifacts_are_written_atomically_with_their_digest(tmp_path):
    import numpy as np

    from evalkit.video import Video

    v = Video(np.zeros((2, 4, 4, 3), np.uint8), 8.0)
    digest = write_artifact([v], tmp_path / "a.npz")
    assert digest == content_digest(tmp_path / "a.npz") and len(digest) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


@pytest.fixture
def immutable(tmp_path):
    """A store folder nothing can write to, root included (chattr +i)."""
    run_plan(_plan(), tmp_path / "ro")
    paths = [tmp_path / "ro" / STORE_FILENAME, tmp_path / "ro"]
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, paths)]).returncode:
        pytest.skip("chattr +i not available here")
    yield tmp_path / "ro"
    subprocess.run(["chattr", "-i", *map(str, paths)])


def test_a_read_only_store_can_be_reported(immutable):
    """Defect: a read-only store could not even be reported (a Python traceback)."""
    result = CliRunner().invoke(app, ["report", str(immutable)])
    assert result.exit_code == 0, result.output
    assert "| test-copy |" in result.stdout


def test_running_into_a_read_only_store_is_one_error_line(immutable):
    result = CliRunner().invoke(app, ["run", "test-squares[n=3]", "-g", "test-copy", "-m", "test-brightness",
                                      "--out", str(immutable), "-q"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {immutable / STORE_FILENAME}: ") and "read-only" in line


def test_reports_open_the_store_read_only(tmp_path):
    run_plan(_plan(), tmp_path)
    store = ResultsStore(tmp_path, readonly=True)
    try:
        with pytest.raises(StoreError, match="read-only"):
            store.finish_run("x", "complete")
    finally:
        store.close()
    with pytest.raises(StoreError, match="no results store here"):
        ResultsStore(tmp_path / "elsewhere", readonly=True)
    assert not (tmp_path / "elsewhere").exists()


def _corrupt(path):
    data = bytearray(path.read_bytes())
    for i in range(4096, len(data), 97):   # keep the header, damage every page after it
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def test_a_corrupt_store_is_one_error_line(tmp_path):
    """Defect: a corrupt store gave a Python traceback."""
    run_plan(_plan(), tmp_path)
    _corrupt(tmp_path / STORE_FILENAME)
    for args in (["report", str(tmp_path)], ["run", "test-squares", "-g", "test-copy", "-m", "test-brightness",
                                              "--out", str(tmp_path), "-q"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith(f"error: {tmp_path / STORE_FILENAME}: ") and "corrupt" in line, line
        assert result.exception is None or isinstance(result.exception, SystemExit)
    (tmp_path / "junk.sqlite").write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(EvalkitError, match="not an evalkit results store"):
        ResultsStore(tmp_path / "junk.sqlite")


def test_duplicate_case_ids_are_refused_before_anything_runs(tmp_path):
    """Defect: an explicit target id "1" next to an unnamed second target (index 1) gave two
    cases the id `clip/1`, and the run silently kept one of the two results."""
    manifest = tmp_path / "m.yaml"
    video = tmp_path / "clip.mp4"
    manifest.write_text(f"""
kind: motion-transfer
version: 1
name: collide
items:
  - id: clip
    source: {video}
    targets:
      - {{id: "1", prompt: a dog running}}
      - {{prompt: a cat running}}
""")
    result = CliRunner().invoke(app, ["run", f"motion-transfer[manifest={manifest}]", "-g", "copy", "-m",
                                      "temporal-flicker", "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "case id(s) used by several cases: clip/1" in line
    assert not (tmp_path / "out").exists()
