"""`evalkit reproduce ditflow-table1` on a tiny-pipeline CPU run: every row of DiTFlow's Table 1 is
filled by an evalkit generator, on both halves (CogVideoX-5B with RoPE, CogVideoX-2B with
sin-cos positions: one tiny pipeline of each), with the setup differences listed."""
from __future__ import annotations

import pytest
import yaml

pytest.importorskip("diffusers")

from typer.testing import CliRunner  # noqa: E402

from evalkit.cli import _load_commands, app  # noqa: E402

_load_commands()

ROWS = {"Backbone": "vanilla", "Injection [59]": "kv-injection", "MotionClone [30]": "motionclone",
        "SMM [62]": "smm", "MOFT [59]": "moft", "DiTFlow": "ditflow"}


@pytest.mark.slow
@pytest.mark.timeout(1200)   # 36 tiny generations + metrics: minutes on a loaded 2-core box
def test_reproduce_ditflow_table1_fills_every_row(tiny_dirs, tmp_path, tmp_path_factory, shared_data):
    from guidance_tiny import tiny_cogvideox_sincos

    from evalkit.report.paper.reproduce import load_table, reproduce
    from evalkit.report.sources import load_run
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["openai/clip-vit-base-patch32"])
    sincos = tmp_path / "cog_sincos"
    tiny_cogvideox_sincos().save_pretrained(str(sincos))
    paths = {"cogvideox-5b": tiny_dirs("cogvideox"), "cogvideox-2b": str(sincos)}
    generators = []
    for backbone, path in paths.items():
        common = {"backbone": backbone, "model_path": path, "height": 32, "width": 32, "steps": 2}
        guided = {**common, "blocks": 1, "guidance_fraction": 0.5, "opt_steps": 2}
        generators += [{"name": "vanilla", **common, "num_frames": 9},
                       {"name": "kv-injection", **common, "source_frame_repeat": 1}]
        generators += [{"name": name, **guided} for name in ("motionclone", "smm", "moft", "ditflow")]
    cfg = {"dataset": {"name": "davis-motion-transfer", "root": str(shared_data), "sequences": ["blackswan"],
                       "transforms": ["frames:9"]},
           "generators": generators,
           "metrics": [{"name": "motion-fidelity", "backend": "klt", "variant": "dmt_official"}, "clip-text"]}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "runs"
    res = CliRunner().invoke(app, ["run", str(tmp_path / "run.yaml"), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output

    result = reproduce(load_table("ditflow-table1"), load_run(str(out)))
    for row, name in ROWS.items():
        cells = [c for c in result.cells if c.row == row]
        assert len(cells) == 16
        for c in cells:
            assert c.generator and c.generator.split("[")[0] == name, (row, c.column, c.note)
            assert c.n > 0, (row, c.column, c.generator, c.note)
            backbone = "cogvideox-5b" if "_5b_" in c.column else "cogvideox-2b"
            assert f"backbone={backbone}" in c.generator
    text = "\n".join(result.differences)
    assert "backend klt" in text and "benchmark" in text
    cli = CliRunner().invoke(app, ["reproduce", "ditflow-table1", str(out)])
    assert cli.exit_code == 0, cli.output
    assert all(row in cli.output for row in ROWS)
