"""RunData carries everything reports need: built once from the store, never reopening it."""
from __future__ import annotations

import plugins_for_tests  # noqa: F401  (registers test-* plugins)

from evalkit.report.sources import baseline_document, load_baseline, load_run
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import STORE_FILENAME


def test_run_data_holds_extras_and_loads_in_memory(tmp_path):
    plan = Plan(ComponentSpec("test-squares", {"n": 2}), (ComponentSpec("copy"),), (ComponentSpec("test-brightness"),))
    summary = run_plan(plan, tmp_path / "out")
    run = load_run(tmp_path / "out")
    assert run.run_id == summary.run_id and [g["name"] for g in run.plan["generators"]] == ["copy"]
    assert list(run.loads["generator"]) == ["copy"] and (run.loads["status"] == "ok").all()
    (tmp_path / "out" / STORE_FILENAME).unlink()   # reports must not need the store any more
    extras = run.generation_extras()
    assert set(extras) == set(run.results["generation_key"]) and len(extras) == 2
    assert all(e == {"reference": "copy"} for e in extras.values())


def test_a_baseline_keeps_the_loads(tmp_path):
    plan = Plan(ComponentSpec("test-squares", {"n": 1}), (ComponentSpec("copy"),), (ComponentSpec("test-brightness"),))
    run_plan(plan, tmp_path / "out")
    import json

    path = tmp_path / "b.json"
    path.write_text(json.dumps(baseline_document(load_run(tmp_path / "out"), "v1")))
    base = load_baseline(path)
    assert list(base.loads["generator"]) == ["copy"] and base.generation_extras() == {}
