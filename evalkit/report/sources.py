"""Where a report's results come from: a results store or a saved release baseline.

Accepted references (every report command takes one):
- ``DIR``           an ``--out`` folder holding evalkit.sqlite: its latest run;
- ``DIR:RUN_ID``    a given run of that store;
- ``FILE.sqlite``   (optionally ``FILE.sqlite:RUN_ID``);
- ``FILE.json``     a release baseline written by ``evalkit baseline save``;
- ``RUN_ID``        a run of the default store ``./runs`` (``evalkit run``'s default --out).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import EvalkitError
from ..run.outcome import Outcome, outcome
from ..run.store import STORE_FILENAME, ResultsStore

DEFAULT_OUT = "runs"
BASELINE_SCHEMA = 1


class RunNotFoundError(EvalkitError):
    pass


@dataclass
class RunData:
    """One run's results, generations (timings, artifacts), generator loads and run record
    (plan, provenance): everything a report needs, read once, so reports never reopen a store."""
    run_id: str
    results: pd.DataFrame
    generations: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    origin: str = ""
    root: Path | None = None   # folder artifacts are relative to, when from a store
    loads: pd.DataFrame = field(default_factory=pd.DataFrame)   # the load stage: LoadRow columns
    extras: dict[str, dict] = field(default_factory=dict)       # generation key -> generator extras

    @property
    def provenance(self) -> dict[str, Any]:
        return self.info.get("provenance", {}) or {}

    @property
    def plan(self) -> dict[str, Any]:
        return self.info.get("plan", {}) or {}

    def generation_extras(self) -> dict[str, dict]:
        """generation_key -> the extras the generator recorded ({} for a baseline)."""
        return self.extras

    @property
    def status(self) -> str:
        """complete | partial | failed | running | interrupted (see evalkit.run.outcome)."""
        return str(self.info.get("status") or "unknown")

    def outcome(self) -> Outcome:
        return outcome(self.results, self.info.get("expected"))

    def effective_status(self) -> str:
        """The recorded status, unless the results say less (a record of 'complete' with
        failed or missing items reads 'partial')."""
        computed = self.outcome().status
        return computed if self.status in ("complete", "unknown") else self.status

    def status_note(self, *, short: bool = False) -> str:
        """What every report of an incomplete run starts with ('' for a complete run);
        ``short``: the status and counts only."""
        out = self.outcome()
        return out.headline(self.status) if short else out.note(self.status)

    @property
    def label(self) -> str:
        return f"{self.run_id} ({self.origin})" if self.origin else self.run_id


def _split_ref(ref: str) -> tuple[str, str | None]:
    """'dir:run' -> ('dir', 'run'); a bare Windows-free path has no colon."""
    if ":" in ref:
        path, run = ref.rsplit(":", 1)
        if path and run and "/" not in run:
            return path, run
    return ref, None


def load_run(ref: str | Path) -> RunData:
    ref = str(ref)
    path_s, run_id = _split_ref(ref)
    path = Path(path_s)
    if path.suffix == ".json":
        if not path.is_file():
            raise RunNotFoundError(f"{path}: no such baseline file")
        return load_baseline(path)
    if path.is_dir() or path.suffix == ".sqlite":
        store_path = path / STORE_FILENAME if path.is_dir() else path
        if not store_path.is_file():
            raise RunNotFoundError(f"{path}: no {STORE_FILENAME} here (pass an --out folder of `evalkit run`)")
        return _from_store(store_path, run_id)
    # a bare run id: the default store
    default = Path(DEFAULT_OUT) / STORE_FILENAME
    if run_id is None and default.is_file():
        return _from_store(default, ref)
    raise RunNotFoundError(f"{ref}: not a results folder, .sqlite store, baseline .json, "
                           f"or a run of ./{DEFAULT_OUT}")


def _from_store(store_path: Path, run_id: str | None) -> RunData:
    store = ResultsStore(store_path, readonly=True)
    try:
        try:
            run_id = run_id or store.latest_run_id()
            info = store.run(run_id)
        except KeyError as exc:
            known = ", ".join(store.runs()["run_id"].tolist()[-10:]) or "none"
            raise RunNotFoundError(f"{store_path}: {exc.args[0]} (runs: {known})") from None
        return RunData(run_id, store.results(run_id), store.generations(run_id), info,
                       origin=str(store_path), root=store.root, loads=store.loads(run_id),
                       extras=store.generation_extras(run_id))
    finally:
        store.close()


# -- release baselines -----------------------------------------------------------------------

def baseline_document(run: RunData, name: str) -> dict[str, Any]:
    """A self-contained JSON-able record of a run: results, generation timings, provenance."""
    results = run.results.drop(columns=["generation_key", "metric_key"], errors="ignore")   # store-local
    gens = run.generations.drop(columns=["key"], errors="ignore")
    return {
        "schema": BASELINE_SCHEMA,
        "kind": "evalkit-release-baseline",
        "name": name,
        "run_id": run.run_id,
        "origin": run.origin,
        "run": {k: v for k, v in run.info.items() if k != "run_id"},
        "results": json.loads(results.to_json(orient="records")),
        "generations": json.loads(gens.to_json(orient="records")),
        "loads": json.loads(run.loads.drop(columns=["process"], errors="ignore").to_json(orient="records")),
    }


def load_baseline(path: Path) -> RunData:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise EvalkitError(f"{path}: unreadable baseline ({exc})") from None
    if doc.get("kind") != "evalkit-release-baseline" or doc.get("schema") != BASELINE_SCHEMA:
        raise EvalkitError(f"{path}: not an evalkit release baseline (schema {BASELINE_SCHEMA})")
    results = pd.DataFrame.from_records(doc["results"])
    if "value" in results:
        results["value"] = results["value"].astype(float)
    for col in ("generation_key", "metric_key"):
        results[col] = ""
    gens = pd.DataFrame.from_records(doc.get("generations", []))
    info = {"run_id": doc["run_id"], **doc.get("run", {})}
    return RunData(doc["run_id"], results, gens, info, origin=f"baseline {doc.get('name')} ({path})",
                   root=None, loads=pd.DataFrame.from_records(doc.get("loads", [])))
