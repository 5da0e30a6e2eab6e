"""Machine-readable results of a run, as lm-evaluation-harness writes them.

- ``results.json``: the plan, provenance, each metric column's definition (direction, backend,
  checkpoint, options), per generator × metric the aggregate (mean, S.E.M., n and its unit,
  failed/pending counts), every failure with its reason and every protocol warning
  (``evalkit.report.protocol_warnings``). Validates against
  ``docs/results.schema.json`` (``SCHEMA_VERSION`` below is its ``schema_version``).
- ``samples.jsonl``: one line per item (case × generator × seed × metric) with its value,
  status, reason and the metric's details.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, cast

from .. import __version__
from .aggregate import aggregate, facts_for
from .definitions import checkpoint_of, parse_config
from .protocol_warnings import protocol_warnings
from .rows import rows_of
from .sources import RunData

SCHEMA_VERSION = 1


def _num(x: Any) -> float | None:
    """JSON has no NaN: a missing number is null."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _status(run: RunData) -> str:
    return str(run.info.get("status") or "unknown")


def results_document(run: RunData) -> dict[str, Any]:
    res = run.results
    facts = facts_for(res) if len(res) else {}
    metrics = []
    for column, items in res.groupby("metric", sort=True):
        f, backend = facts[cast(str, column)], str(items["backend"].iloc[0] or "")
        metrics.append({"column": column, "metric": f.metric_name, "backend": backend or None,
                        "checkpoint": checkpoint_of(backend) if backend else None,
                        "higher_is_better": f.higher_is_better, "boolean": f.boolean, "report_scale": f.scale,
                        "definition": parse_config(items["metric_config"].iloc[0], what=f"metric_config of {column}")})
    table = aggregate(res) if len(res) else None
    aggregates = [] if table is None else [
        {"generator": r.generator, "metric": r.metric, "mean": _num(r.mean), "sem": _num(r.sem), "n": int(r.n),
         "unit": r.unit, "n_items": int(r.n_items), "n_failed": int(r.n_failed), "n_pending": int(r.n_pending)}
        for r in rows_of(table)]
    failed = res[res["status"] == "failed"] if len(res) else res
    failures = [{"generator": r.generator, "case_id": r.case_id, "seed": int(r.seed), "metric": r.metric,
                 "reason": str(r.error)} for r in rows_of(failed)]
    generators = {}
    for label, items in res.groupby("generator", sort=True):
        generators[label] = {"config": parse_config(items["generator_config"].iloc[0], what=f"config of {label}"),
                             **run.provenance.get("generators", {}).get(label, {})}
    return {"schema_version": SCHEMA_VERSION, "evalkit_version": __version__, "run_id": run.run_id,
            "status": _status(run), "plan": run.plan, "provenance": run.provenance,
            "n_cases": int(res["case_id"].nunique()) if len(res) else 0,
            "generators": generators, "metrics": metrics, "aggregates": aggregates, "failures": failures,
            "protocol_warnings": protocol_warnings(run)}


def samples(run: RunData) -> Iterator[dict[str, Any]]:
    for r in rows_of(run.results):
        yield {"run_id": run.run_id, "case_id": r.case_id, "case_kind": r.case_kind, "category": r.category,
               "generator": r.generator, "seed": int(r.seed), "metric": r.metric, "status": r.status,
               "value": _num(r.value), "error": r.error or None,
               "details": parse_config(r.details, what=f"details of {r.case_id}/{r.metric}"),
               "generation_key": r.generation_key, "metric_key": r.metric_key or None}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_results(run: RunData, folder: str | os.PathLike) -> tuple[Path, Path]:
    """``folder/results.json`` and ``folder/samples.jsonl`` (atomic writes)."""
    folder = Path(folder)
    doc, lines = results_document(run), [json.dumps(s, sort_keys=True, default=str) for s in samples(run)]
    _atomic_write(folder / "results.json", json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    _atomic_write(folder / "samples.jsonl", "\n".join(lines) + ("\n" if lines else ""))
    return folder / "results.json", folder / "samples.jsonl"
