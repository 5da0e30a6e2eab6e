"""`evalkit reproduce TABLE --run` on tiny pipelines: the table's plan (rows with their release
presets, the columns' metrics, --limit N cases per category) runs through the normal runner and
fills every cell; `--plan FILE` is the same plan under `evalkit run FILE`; a re-run is cached."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")

from cli_runs import invoke  # noqa: E402

# tiny-run settings, each reported as a difference from the row's preset
SMOKE = ["--set", "steps=2", "--set", "height=32", "--set", "width=32", "--set", "source_frame_repeat=1",
         "--set", "davis-motion-transfer.transforms=frames:9", "--set", "motion-fidelity.backend=klt",
         "--set", "motion-fidelity.grid_size=10"]
LMP_ROWS = ("w/o FBDM", "w/o ASM", "Ours")


@pytest.fixture
def tiny_weights(tiny_dirs, tmp_path, tmp_path_factory, monkeypatch):
    """The tiny CogVideoX where evalkit looks for THUDM/CogVideoX-5b (the weights cache), and
    random CLIP / PickScore models in the HF cache: the presets load their real model ids."""
    from evalkit.testing.random_models import install_random_models
    from evalkit.testing.random_pickscore import install_random_pickscore

    hf_home = tmp_path_factory.getbasetemp() / "hf_home"
    install_random_models(hf_home, ["openai/clip-vit-base-patch32"])
    install_random_pickscore(hf_home)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "THUDM--CogVideoX-5b").symlink_to(tiny_dirs("cogvideox"), target_is_directory=True)
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))


def test_reproduce_lmp_table2_runs_its_plan_and_fills_every_cell(tiny_weights, tmp_path, shared_data):
    from evalkit.report.paper.plan import build_table_plan
    from evalkit.report.paper.presets import parse_overrides
    from evalkit.report.paper.tables import load_table
    from evalkit.run.store import ResultsStore

    out, plan = tmp_path / "runs", tmp_path / "plan.yaml"
    args = ["reproduce", "lmp-table2", "--run", "--root", str(shared_data), "--out", str(out), "--limit", "1",
            "--plan", str(plan), "--quiet", *SMOKE]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    ours = [line for line in res.output.splitlines() if "↳ evalkit" in line]
    assert len(ours) == 3 and all(line.count("Δ") == 4 for line in ours), res.output   # every cell filled
    for name in ("lmp-no-fbdm[", "lmp-no-asm[", "lmp["):
        assert sum(f"evalkit {name}" in line for line in ours) == 1, ours
    # the smoke settings are named as differences from the preset, with the preset's reason
    assert "w/o FBDM: run's lmp-no-fbdm" in res.output and "steps=2 (preset None" in res.output
    assert "source_frame_repeat=1 (preset 2: LMP generates 49 frames" in res.output
    assert "output_frames='first 24 frames at 576×320', not in evalkit yet" in res.output

    store = ResultsStore(out, readonly=True)
    try:
        run_id = store.latest_run_id()
        rows = store.results(run_id)
    finally:
        store.close()
    # --limit 1: one case per prompt category; 3 generators × 4 metrics each, all ok
    assert sorted(rows.case_id.unique()) == ["blackswan/caption", "blackswan/scene", "blackswan/subject"]
    assert len(rows) == 3 * 3 * 4 and (rows.status == "ok").all(), rows[rows.status != "ok"][["generator", "error"]]

    # --plan wrote the plan that ran: `evalkit run FILE` is the same run (same id), fully cached
    again = invoke("run", str(plan), "--out", str(out), "--quiet")
    assert again.exit_code == 0, again.output
    assert f"run {run_id}: 0 generated, 9 cached; 0 metric values computed, 36 cached" in again.output
    built = build_table_plan(load_table("lmp-table2"), root=str(shared_data), limit=1,
                             overrides=parse_overrides(a for a in SMOKE if a != "--set"))
    assert built.plan.run_id == run_id
    # and the report of that run, without --run, maps the rows through the presets again
    report = invoke("reproduce", "lmp-table2", str(out), *SMOKE)
    assert report.exit_code == 0, report.output
    assert sum("↳ evalkit" in line for line in report.output.splitlines()) == 3
