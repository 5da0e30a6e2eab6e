"""LMP through `evalkit run` (tiny CogVideoX, CPU) and `evalkit reproduce lmp-table1` on real DAVIS
frames with evalkit's subject annotation."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")

from cli_runs import invoke, run_config  # noqa: E402


def test_evalkit_run_lmp_on_the_synthetic_suite(tiny_dirs, tmp_path):
    common = {"backbone": "cogvideox-5b", "model_path": tiny_dirs("cogvideox"), "steps": 2, "height": 32, "width": 32}
    cfg = {"dataset": {"name": "synthetic", "motions": ["translation"], "num_frames": 8, "height": 32, "width": 32},
           "generators": [{"name": "lmp", **common, "source_frame_repeat": 1}],
           "metrics": ["runtime"]}
    _, df = run_config(tmp_path, cfg)
    assert len(df) == 1 and df.status.iloc[0] == "ok" and df.value.iloc[0] > 0, df.to_dict("records")


@pytest.mark.slow
def test_reproduce_lmp_table1_fills_the_baseline_and_lmp_rows(tiny_dirs, tmp_path, shared_data, tmp_path_factory):
    from evalkit.testing.random_models import install_random_models
    from evalkit.testing.random_pickscore import install_random_pickscore

    hf_home = tmp_path_factory.getbasetemp() / "hf_home"
    install_random_models(hf_home, ["openai/clip-vit-base-patch32"])
    install_random_pickscore(hf_home)
    common = {"backbone": "cogvideox-5b", "model_path": tiny_dirs("cogvideox"), "steps": 2, "height": 64, "width": 64}
    cfg = {"dataset": {"name": "davis-motion-transfer", "root": str(shared_data), "sequences": "blackswan"},
           # the DAVIS clip has 24 frames: 25 after the VAE padding, for both generators
           "generators": [{"name": "vanilla", **common, "num_frames": 25},
                          {"name": "lmp", **common, "source_frame_repeat": 1}],
           "metrics": ["clip-text", "clip-temporal-consistency", "pickscore", "motion-fidelity[backend=klt]"]}
    out, df = run_config(tmp_path, cfg)
    assert (df.status == "ok").all(), df[df.status != "ok"][["generator", "case_id", "metric_name", "error"]]
    assert sorted(df.case_id.unique()) == ["blackswan/caption", "blackswan/scene", "blackswan/subject"]
    res = invoke("reproduce", "lmp-table1", str(out))
    assert res.exit_code == 0, res.output
    ours = [line for line in res.output.splitlines() if "↳ evalkit" in line]
    # Baseline and Ours in each of Ori./Sub./Back./Mean; DMT (generator `dmt`) is not in this run
    assert sum("evalkit vanilla[" in line for line in ours) == 4 and sum("evalkit lmp[" in line for line in ours) == 4
    assert not any("dmt" in line for line in ours)
    assert all("Δ" in line for line in ours)
