"""Shard stores merged into one (evalkit.run.merge, `evalkit merge`): the Slurm-array path.
Shard processes write separate folders; the merge equals a single-process run bit for bit
(values, artifact bytes, run status), is idempotent and resumable, and refuses a tampered
artifact, tampered source frames or a conflicting value with one error line."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest
from cli_errors import one_error_line
from stored_values import stored_results, stored_values
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.errors import EvalkitError
from evalkit.run.merge import MergeConflictError, merge_stores
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.shard_stores import shard_store_dir
from evalkit.run.store import STORE_FILENAME, ResultsStore

_load_commands()
SHARDS = 3


def _plan() -> Plan:   # two generators: one stores indices into source frames, one its own frames
    return Plan(ComponentSpec("test-squares", {"n": 5}),
                (ComponentSpec("test-copy"), ComponentSpec("test-copy", {"brighten": 7})),
                (ComponentSpec("test-brightness"),))


def _files(root: Path) -> dict[str, str]:
    """sha256 of every artifact and source-frame file, by path under the store."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "artifacts").rglob("*.np*"))}


def _status(out, run_id) -> str:
    store = ResultsStore(out, readonly=True)
    try:
        return store.run(run_id)["status"]
    finally:
        store.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A single-process run and the same plan as 3 shards, each into its own folder."""
    base = tmp_path_factory.mktemp("merge")
    single = run_plan(_plan(), base / "single")
    for i in range(SHARDS):
        part = run_plan(_plan(), shard_store_dir(base / "sharded", (i, SHARDS)), shard=(i, SHARDS))
        assert part.status == "partial"   # a shard alone is part of the run
    return base, single.run_id


def _shard_dirs(out) -> list[Path]:
    return [shard_store_dir(out, (i, SHARDS)) for i in range(SHARDS)]


def _copy_shards(base: Path, to: Path) -> list[Path]:
    import shutil

    shutil.copytree(base / "sharded", to)
    return _shard_dirs(to)


def test_merged_shards_equal_the_single_process_run_bit_for_bit(runs, tmp_path):
    base, run_id = runs
    shards = _copy_shards(base, tmp_path / "out")
    report = merge_stores(tmp_path / "merged", shards)
    assert report.runs == {run_id: "complete"} and report.artifacts == 10 and report.sources == 5
    single, merged = base / "single", tmp_path / "merged"
    values = stored_values(single, run_id)
    assert values.notna().all()
    assert stored_values(merged, run_id).to_numpy().tobytes() == values.to_numpy().tobytes()
    cols = ["case_id", "generator", "metric", "generation_key", "metric_key", "status", "value", "details"]
    assert stored_results(merged, run_id)[cols].equals(stored_results(single, run_id)[cols])
    assert _files(merged) == _files(single)
    assert _status(merged, run_id) == _status(single, run_id) == "complete"
    again = merge_stores(merged, shards)   # idempotent: nothing new, the same store
    assert (again.rows, again.artifacts, again.sources) == (0, 0, 0)
    assert stored_values(merged, run_id).equals(values) and _files(merged) == _files(single)


def test_an_interrupted_merge_is_finished_by_merging_again(runs, tmp_path):
    base, run_id = runs
    shards = _copy_shards(base, tmp_path / "out")
    first = merge_stores(tmp_path / "merged", shards[:1])   # stopped after the first shard
    assert first.runs == {run_id: "partial"}
    merge_stores(tmp_path / "merged", shards)
    assert stored_values(tmp_path / "merged", run_id).equals(stored_values(base / "single", run_id))
    assert _status(tmp_path / "merged", run_id) == "complete"




def test_merge_refuses_a_tampered_artifact(runs, tmp_path):
    base, _ = runs
    shards = _copy_shards(base, tmp_path / "out")
    victim = sorted((shards[1] / "artifacts").glob("*.npz"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF   # one byte of its frames
    victim.write_bytes(bytes(data))
    line = one_error_line(["merge", str(tmp_path / "merged"), *map(str, shards)])
    assert victim.name in line and "changed since it was generated" in line and str(shards[1]) in line
    assert not (tmp_path / "merged" / "artifacts" / victim.name).exists()


def test_merge_refuses_tampered_source_frames(runs, tmp_path):
    base, _ = runs
    shards = _copy_shards(base, tmp_path / "out")
    source = sorted((shards[0] / "artifacts" / "sources").glob("*.npy"))[0]
    frames = np.load(source)
    frames[0, 0, 0] ^= 1
    np.save(source, frames)
    with pytest.raises(EvalkitError, match=f"source frames sources/{source.name} changed"):
        merge_stores(tmp_path / "merged", shards)


def test_merge_refuses_a_conflicting_value(runs, tmp_path):
    base, run_id = runs
    shards = _copy_shards(base, tmp_path / "out")
    merge_stores(tmp_path / "merged", shards)
    con = sqlite3.connect(str(shards[2] / STORE_FILENAME))   # the same key, another value
    key, = con.execute("SELECT key FROM metric_values LIMIT 1").fetchone()
    con.execute("UPDATE metric_values SET value = value + 1e-9 WHERE key = ?", (key,))
    con.commit()
    con.close()
    line = one_error_line(["merge", str(tmp_path / "merged"), str(shards[2])])
    assert f"metric_values {key}" in line and "refusing to merge conflicting records" in line
    assert stored_values(tmp_path / "merged", run_id).equals(stored_values(base / "single", run_id))
    with pytest.raises(MergeConflictError):   # the recompute policy takes the shard's record instead
        merge_stores(tmp_path / "merged", [shards[2]], policy="retry")
    merge_stores(tmp_path / "merged", [shards[2]], policy="recompute")


def test_a_conflicting_generation_is_refused_before_any_file_of_the_store_is_replaced(runs, tmp_path):
    base, run_id = runs
    shards = _copy_shards(base, tmp_path / "out")
    merge_stores(tmp_path / "merged", shards)
    before = _files(tmp_path / "merged")
    con = sqlite3.connect(str(shards[0] / STORE_FILENAME))   # its generation made again, other frames
    (key, artifact), (_, other) = con.execute("SELECT key, artifact FROM generations ORDER BY key LIMIT 2")
    (shards[0] / artifact).write_bytes((shards[0] / other).read_bytes())
    digest = hashlib.sha256((shards[0] / artifact).read_bytes()).hexdigest()
    con.execute("UPDATE generations SET artifact_digest = ? WHERE key = ?", (digest, key))
    con.commit()
    con.close()
    with pytest.raises(MergeConflictError, match=f"generations {key}: the store holds status='ok', "
                                                 f"artifact_digest="):
        merge_stores(tmp_path / "merged", [shards[0]])
    assert _files(tmp_path / "merged") == before   # the store's artifact is untouched
    assert stored_values(tmp_path / "merged", run_id).equals(stored_values(base / "single", run_id))


def test_an_environment_failure_gives_way_to_the_shards_result(runs, tmp_path):
    base, run_id = runs
    shards = _copy_shards(base, tmp_path / "out")
    merge_stores(tmp_path / "merged", shards)
    con = sqlite3.connect(str(tmp_path / "merged" / STORE_FILENAME))   # e.g. out of memory on one node
    con.execute("UPDATE metric_values SET status = 'env-failed', value = NULL WHERE rowid = 1")
    con.commit()
    con.close()
    assert stored_values(tmp_path / "merged", run_id).isna().sum() == 1
    merge_stores(tmp_path / "merged", shards)
    assert stored_values(tmp_path / "merged", run_id).equals(stored_values(base / "single", run_id))


def test_slurm_style_shards_into_their_own_folders_then_evalkit_merge(tmp_path):
    """As a Slurm array runs it (docs/examples/slurm_array.sbatch): `evalkit run --shard i/n`
    per task into OUT/shards/<i>-of-<n>, then `evalkit merge OUT`."""
    common = ["--plugin", "plugins_for_tests", "run", "test-squares[n=4]", "-g", "test-copy",
              "-m", "test-brightness", "-q"]
    single = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "single")])
    assert single.exit_code == 0, single.output
    for i in range(SHARDS):
        shard = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "out"), "--shard", f"{i}/{SHARDS}",
                                         "--shard-store", "own"])
        assert shard.exit_code == 0, shard.output
        assert f"evalkit merge {tmp_path / 'out'}" in " ".join(shard.output.split())
    assert not (tmp_path / "out" / STORE_FILENAME).exists()   # no shared SQLite file
    merged = CliRunner().invoke(app, ["merge", str(tmp_path / "out")])
    assert merged.exit_code == 0, merged.output
    assert "merged 3 shard store(s)" in merged.output and ": complete" in merged.output
    report = [CliRunner().invoke(app, ["report", str(tmp_path / d)]).stdout for d in ("single", "out")]
    assert report[0] == report[1] and "test-copy" in report[0]


def test_merge_without_shards_isone_error_line(tmp_path):
    line = one_error_line(["merge", str(tmp_path / "out")])
    assert "no shard folders" in line
    line = one_error_line(["merge", str(tmp_path / "out"), str(tmp_path / "nowhere")])
    assert "no results store here" in line


@pytest.mark.slow  # four CLI processes (~10 s each to start on 2 cores)
def test_shard_processes_running_at_once_into_their_own_folders_merge_to_the_single_run(tmp_path):
    """The Slurm array for real: N `evalkit run --shard i/N` processes at the same time, each
    into its own folder, then `evalkit merge` in another process."""
    import os
    import subprocess
    import sys

    tests = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    cli = [sys.executable, "-m", "evalkit.cli"]
    common = [*cli, "--plugin", "plugins_for_tests", "run", "test-squares[n=6]", "-g", "test-copy,test-copy[brighten=7]",
              "-m", "test-brightness", "-q"]
    single = subprocess.run([*common, "--out", str(tmp_path / "single")], env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    shards = [subprocess.Popen([*common, "--out", str(tmp_path / "out"), "--shard", f"{i}/{SHARDS}",
                                "--shard-store", "own"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for i in range(SHARDS)]
    for p in shards:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    merged = subprocess.run([*cli, "merge", str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    store = ResultsStore(tmp_path / "single", readonly=True)
    run_id = store.latest_run_id()
    store.close()
    assert f"run {run_id}: complete" in merged.stderr
    assert stored_values(tmp_path / "out", run_id).equals(stored_values(tmp_path / "single", run_id))
    assert _files(tmp_path / "out") == _files(tmp_path / "single")
