"""Paper tables carry their release presets: every row of the 12 tables builds a valid plan
(`evalkit reproduce TABLE --plan`), the same plan under `evalkit run FILE`; presets are checked
against the registry at load; a submission's declared backbone picks its column group."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from evalkit.cli import _load_commands
from evalkit.cli.app import app
from evalkit.report.paper.plan import build_table_plan
from evalkit.report.paper.presets import PresetError, parse_overrides
from evalkit.report.paper.reproduce import available_tables, reproduce
from evalkit.report.paper.tables import load_table, papers_dir
from evalkit.report.sources import load_run
from evalkit.run.plan import Plan, load_plan
from evalkit.run.runner import first_per_category
from evalkit.run.store import ResultsStore

_load_commands()
TABLES = sorted(available_tables())


def _submissions(table, tmp_path: Path) -> list[str]:
    """A `videos` folder for every row of a method evalkit does not implement: --submission ROW=DIR."""
    args = []
    for row in table.rows:
        if row.submission:
            folder = tmp_path / "subs" / re.sub(r"[^a-z0-9]+", "-", row.label.lower())
            folder.mkdir(parents=True, exist_ok=True)
            args += ["--submission", f"{row.label}={folder}"]
    return args


def test_all_thirteen_tables():
    assert len(TABLES) == 13   # the 12 of the four papers + DeT's MTBench table


@pytest.mark.parametrize("table_id", TABLES)
def test_every_row_of_every_table_builds_a_plan_that_evalkit_run_reads_identically(table_id, tmp_path):
    table = load_table(table_id)
    plan_file = tmp_path / "plan.yaml"
    res = CliRunner().invoke(app, ["reproduce", table_id, "--plan", str(plan_file), "--limit", "2",
                                   *_submissions(table, tmp_path)])
    if table_id == "ditflow-appD":   # AMF is DiTFlow-internal: every row says why nothing runs it
        assert res.exit_code == 2 and "no column has an evalkit metric (AMF cosine): nothing to measure" in res.output
        assert all(r.published_only for r in table.rows)
        return
    assert res.exit_code == 0, res.output
    planned = build_table_plan(table, limit=2, submissions={
        a.split("=", 1)[0]: [a.split("=", 1)[1]] for a in _submissions(table, tmp_path)[1::2]})
    assert planned.left_out == []
    # every row is in the plan: a generator per column group, or its submission
    groups = table.column_backbones() or [None]
    for row in table.rows:
        entries = [e for e in planned.entries if e.row == row.label]
        assert entries, (table_id, row.label)
        if row.generator:
            assert {e.backbone for e in entries} == set(groups) and all(e.name == row.generator for e in entries)
        else:
            assert [e.name for e in entries] == ["videos"]
    # the YAML it wrote is the same plan (same run id) for `evalkit run FILE`
    assert load_plan(str(plan_file)).run_id == planned.plan.run_id
    assert planned.plan.limit_per_category == 2 and planned.plan.dataset.name == table.dataset["name"]
    columns = {c.metric.partition(":")[0] if c.metric.startswith("runtime:") else c.metric
               for c in table.columns if c.metric}
    assert {m.name for m in planned.plan.metrics} == columns


def test_ditflow_table1_presets_per_column_group_and_shared_ablation_runs():
    planned = build_table_plan(load_table("ditflow-table1"))
    ditflow = [g for g in planned.plan.generators if g.name == "ditflow"]
    assert sorted(g.options["backbone"] for g in ditflow) == ["cogvideox-2b", "cogvideox-5b"]
    assert all(g.options["lr_schedule"] == "ditflow-code" and g.options["head_average"] == "logits"
               for g in ditflow)
    assert {m.name: m.options for m in planned.plan.metrics}["motion-fidelity"] == {
        "backend": "cotracker3", "protocol": "ditflow", "variant": "dmt_official"}
    # Table 2's rows 'block 20', 'T_opt 20%' and 'K_opt 5' are one setting: one run
    table2 = build_table_plan(load_table("ditflow-table2"))
    assert len(table2.entries) == 12 and len(table2.plan.generators) == 10


def test_rows_of_unimplemented_methods_are_left_out_with_how_to_submit_them():
    planned = build_table_plan(load_table("vwarper-table1"))
    assert [g.name for g in planned.plan.generators] == ["vwarper"]
    assert "VACE [16]: vace is not implemented in evalkit; score its videos with --submission 'VACE [16]=DIR'" \
        in planned.left_out


def test_overrides_reach_the_plan_and_unknown_targets_are_refused():
    table = load_table("lmp-table2")
    planned = build_table_plan(table, overrides=parse_overrides(
        ["steps=2", "motion-fidelity.backend=klt", "davis-motion-transfer.sequences=blackswan"]))
    assert all(g.options["steps"] == 2 for g in planned.plan.generators)
    assert {m.name: m.options.get("backend") for m in planned.plan.metrics}["motion-fidelity"] == "klt"
    assert planned.plan.dataset.options["sequences"] == "blackswan"
    for bad, msg in (["no_such=1"], "no generator of the plan has an option 'no_such'"), \
                    (["clip-i.dtype=float32"], "'clip-i' is not the dataset, a generator or a metric"), \
                    (["lmp.no_such=1"], "lmp has no option 'no_such'"):
        with pytest.raises(PresetError, match=re.escape(msg)):
            build_table_plan(table, overrides=parse_overrides(bad))


def _broken(tmp_path: Path, table_id: str, old: str, new: str) -> Path:
    text = (papers_dir() / f"{table_id}.yaml").read_text()
    assert old in text
    path = tmp_path / f"{table_id}.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,message", [
    ("generator: {name: mbq,", "generator: {name: mbqq,", "mbq-table1: row 'Ours': unknown generator 'mbqq'"),
    ("injection_fraction: 0.4}", "injection_fraction: 0.4, stepz: 3}",
     "mbq-table1: row 'Ours': mbq: unknown option(s) 'stepz' (did you mean 'steps'?)"),
    ("injection_fraction: 0.4}", "injection_fraction: 7}", "mbq-table1: row 'Ours': mbq: option injection_fraction"),
    ("injection_fraction: 0.4}, why: {injection_fraction:", "injection_fraction: 0.4}, why: {other:",
     "mbq-table1: row 'Ours': option(s) ['injection_fraction'] have no `why`"),
    ("{label: VMC, submission: vmc,", "{label: VMC, submission: vmc, generator: vanilla,",
     "mbq-table1: row 'VMC': give exactly one of generator"),
    ("{label: VMC, submission: vmc,", "{label: VMC, submission: vmc, pending: [{option: x}],",
     "mbq-table1: row 'VMC': pending entries are {option, value, why}"),
    ("generator: {name: mbq, backbone: videocrafter2,", "generator: {name: mbq, backbone: zeroscope,",
     "mbq-table1: row 'Ours': the paper's backbone 'VideoCrafter2' but the preset runs 'zeroscope'"),
    ("generator: {name: mbq,", "generator: {name: storyboard,",
     ("mbq-table1: row 'Ours': generator 'storyboard' accepts multi-shot cases; the table's dataset "
      "'motion-transfer' has motion-transfer cases")),
])
def test_a_bad_preset_is_one_error_naming_the_table_and_the_row(tmp_path, old, new, message):
    path = _broken(tmp_path, "mbq-table1", old, new)
    with pytest.raises(PresetError) as err:
        load_table(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    res = CliRunner().invoke(app, ["reproduce", str(path), "--plan", str(tmp_path / "p.yaml")])
    assert res.exit_code == 2 and message in res.output


def test_by_backbone_must_name_a_column_group(tmp_path):
    moft = "    generator: {name: moft, guidance_scale: 7.0, lr_schedule: ditflow-code}\n"
    path = _broken(tmp_path, "ditflow-table1", moft,
                   moft + "    by_backbone: {CogVideoX-9B: {opt_steps: 3}}\n")
    with pytest.raises(PresetError, match=r"row 'MOFT \[59\]': by_backbone names \['CogVideoX-9B'\], not column "
                                          r"backbones of the table \(CogVideoX-5B, CogVideoX-2B\)"):
        load_table(path)


def test_limit_per_category_keeps_n_of_each_category_and_leaves_other_run_ids_alone():
    from evalkit.cases import MotionTransferCase
    from evalkit.run.plan import ComponentSpec

    cases = [MotionTransferCase(case_id=f"{s}/{c}", source=None, target_prompt="p", category=c)
             for s in ("dog", "cat") for c in ("live", "live", "object")]
    kept = first_per_category(cases, 1)
    assert [c.case_id for c in kept] == ["dog/live", "dog/object"]   # a prefix of 2 would be live only
    plan = Plan(ComponentSpec("synthetic"), (ComponentSpec("copy"),), (ComponentSpec("temporal-flicker"),))
    assert "limit_per_category" not in plan.to_dict()
    assert plan.run_id == Plan(ComponentSpec("synthetic"), (ComponentSpec("copy"),),
                               (ComponentSpec("temporal-flicker"),), limit_per_category=None).run_id


def test_a_submissions_declared_backbone_places_it_in_its_column_group(tmp_path, fill):
    store = ResultsStore(tmp_path / "out")
    cases = {"blackswan/caption": 0.8, "blackswan/subject": 0.7}
    cfg = {"name": "motion-fidelity", "version": "2", "backend": "cotracker3", "protocol": "ditflow",
           "variant": "dmt_official"}
    fill(store, "r", {("mine-a", "motion-fidelity[cotracker3]"): cases,
                      ("mine-b", "motion-fidelity[cotracker3]"): {c: v - 0.5 for c, v in cases.items()}},
         categories={c: c.split("/")[1] for c in cases},
         generator_configs={g: {"name": "videos", "version": "1", "label": g, "fps": None}
                            for g in ("mine-a", "mine-b")},
         metric_configs={"motion-fidelity[cotracker3]": cfg},
         provenance={"device": "cpu", "generators": {"mine-a": {"submission": {"backbone": "CogVideoX-2B"}},
                                                      "mine-b": {"submission": {"backbone": "cogvideox-5b"}}}})
    store.close()
    rep = reproduce(load_table("ditflow-table1"), load_run(tmp_path / "out"),
                    {"DiTFlow": ["mine-a", "mine-b"]})
    cells = {c.column: c for c in rep.cells if c.row == "DiTFlow"}
    assert cells["mf_2b_caption"].generator == "mine-a" and cells["mf_2b_caption"].ours_mean == pytest.approx(0.8)
    assert cells["mf_5b_caption"].generator == "mine-b" and cells["mf_5b_caption"].ours_mean == pytest.approx(0.3)


def test_reproduce_without_run_refuses_run_options():
    res = CliRunner().invoke(app, ["reproduce", "lmp-table2", "--limit", "1"])
    assert res.exit_code == 2 and "give them with --run" in res.output
    res = CliRunner().invoke(app, ["reproduce", "lmp-table2", "runs/", "--run"])
    assert res.exit_code == 2 and "not both" in res.output


def test_every_preset_option_is_explained():
    """The registry check at load also requires a `why` per set option: no silent choices."""
    for table_id in TABLES:
        for row in load_table(table_id).rows:
            assert bool(row.generator) + bool(row.submission) + bool(row.published_only) == 1
            assert set(row.options) - {"backbone"} <= set(row.why), (table_id, row.label)
        assert yaml.safe_load((papers_dir() / f"{table_id}.yaml").read_text()).get("dataset"), table_id


def test_a_component_with_an_option_called_name_survives_the_plan_yaml(tmp_path):
    """videos[name=LABEL]: the flat mapping would let the option replace the plugin's name."""
    from evalkit.run.plan import ComponentSpec

    spec = ComponentSpec.parse("videos[dir=subs/vace,name=vace]")
    assert spec.to_dict() == {"name": "videos", "options": {"dir": "subs/vace", "name": "vace"}}
    assert ComponentSpec.parse(spec.to_dict()) == spec
    assert ComponentSpec.parse({"name": "copy"}).to_dict() == {"name": "copy"}   # others stay flat


def test_a_row_whose_backbone_no_candidate_has_is_not_filled_by_another_backbones_run(tmp_path, fill):
    """mbq-table2's AnimateDiff row (vanilla) in a run of vanilla on ZeroScope and VideoCrafter2."""
    store = ResultsStore(tmp_path / "out")
    configs = {g: {"name": "vanilla", "version": "1", "backbone": b}
               for g, b in (("vanilla-zs", "zeroscope"), ("vanilla-vc2", "videocrafter2"))}
    fill(store, "r", {(g, "runtime"): {"c0": 1.0} for g in configs}, generator_configs=configs,
         timings=lambda gen, case, seed: (0.0, 0.0, 2.0))
    store.close()
    rep = reproduce(load_table("mbq-table2"), load_run(tmp_path / "out"))
    by_row = {c.row: c for c in rep.cells if c.column == "infer"}
    assert by_row["Z.scope"].generator == "vanilla-zs" and by_row["VC2"].generator == "vanilla-vc2"
    assert not by_row["AnimateDiff"].generator and "no generator on AnimateDiff" in by_row["AnimateDiff"].note
