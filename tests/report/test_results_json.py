"""results.json / samples.jsonl: every run writes them, and they validate against the published schema."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

jsonschema = pytest.importorskip("jsonschema")  # the dev extra; absent on the GPU machine

from evalkit.cli import _load_commands, app
from evalkit.data.export import export_cases
from evalkit.registry import DATASETS

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "results.schema.json").read_text())


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run with a good generator and a submission with one missing video (failures recorded)."""
    tmp = tmp_path_factory.mktemp("resjson")
    cases = DATASETS.get("synthetic")(motions="translation,pan", num_frames=8).cases()
    export_cases(cases, tmp / "S")
    shutil.copytree(tmp / "S" / "sources", tmp / "G")
    (tmp / "G" / f"{cases[0].case_id}.mp4").unlink()
    (tmp / "G" / "submission.yaml").write_text("method: my-method\npaper: Me et al. 2026\nseeds: [0]\n")
    _load_commands()
    out = CliRunner().invoke(app, ["run", "synthetic[motions=translation+pan,num_frames=8]", "-q",
                                   "-g", f"copy,videos[dir={tmp / 'G'}]", "-m", "motion-fidelity[backend=klt]",
                                   "--out", str(tmp / "run")])
    assert "results:" in out.output, out.output
    return next((tmp / "run" / "results").iterdir())


def test_results_json_validates_and_carries_failures_and_submission(run_folder):
    doc = json.loads((run_folder / "results.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    by_gen = {a["generator"]: a for a in doc["aggregates"]}
    assert by_gen["copy"]["mean"] == pytest.approx(1.0) and by_gen["copy"]["n"] == 2
    assert by_gen["my-method"]["n_failed"] == 1 and by_gen["my-method"]["n"] == 1
    assert doc["failures"][0]["generator"] == "my-method" and "has no" in doc["failures"][0]["reason"]
    assert doc["generators"]["my-method"]["submission"]["paper"] == "Me et al. 2026"
    (metric,) = doc["metrics"]
    assert metric["higher_is_better"] is True and metric["backend"] == "klt"


def test_samples_has_one_line_per_item(run_folder):
    lines = [json.loads(line) for line in (run_folder / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 4                                         # 2 cases × 2 generators × 1 metric
    failed = [s for s in lines if s["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["value"] is None and failed[0]["error"]
    ok = [s for s in lines if s["status"] == "ok"]
    assert all(isinstance(s["details"], dict) and s["value"] == pytest.approx(1.0) for s in ok)


def test_the_schema_rejects_what_it_should(run_folder):
    doc = json.loads((run_folder / "results.json").read_text())
    doc["aggregates"][0]["unit"] = "frames"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
