"""Done-when of issue 15 on tiny pipelines: a personalization run on the real DreamBooth images
trains, caches and reuses a LoRA per subject; `evalkit reproduce vwarper-table1 / -table2 /
-tableA1` fill the V-Warper rows; `evalkit analyze correspondence-pck` probes the run's method."""
from __future__ import annotations

import pytest
import yaml

pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402,F401
from typer.testing import CliRunner  # noqa: E402

from evalkit.cli import _load_commands, app  # noqa: E402
from evalkit.report.paper.reproduce import reproduce  # noqa: E402
from evalkit.report.paper.tables import load_table  # noqa: E402
from evalkit.report.sources import load_run  # noqa: E402
from evalkit.run.store import ResultsStore  # noqa: E402

_load_commands()
METRICS = ["dino-i", "clip-i", "clip-text", "subject-consistency", "background-consistency",
           "dynamic-degree[backend=dis]", "aesthetic-quality", "temporal-flicker"]
DATASET = "dreambooth-personalization[subjects=dog+teapot,prompts_per_subject=2,max_reference_images=2]"


def invoke(args):
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.slow
def test_vwarper_tables_fill_on_a_tiny_pipeline_run(shared_data, tiny_dirs, tmp_path, tmp_path_factory, monkeypatch):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                          ["facebook/dino-vits16", "facebook/dino-vitb16", "openai/clip-vit-base-patch32",
                           "openai/clip-vit-large-patch14"])
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(shared_data / "weights"))   # the LAION aesthetic head
    common = dict(model_path=tiny_dirs("cogvideox"), steps=3, height=32, width=32, num_frames=9, match_layer=0,
                  warp_layers=1, warp_steps="1-2", lora_rank=4, lora_steps=3)
    cfg = {"dataset": DATASET, "generators": [{"name": n, **common} for n in ("vwarper", "vwarper-coarse",
                                                                             "vwarper-nomask")],
           "metrics": METRICS, "limit": 3}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "runs"
    invoke(["run", str(tmp_path / "run.yaml"), "--root", str(shared_data), "--out", str(out), "--quiet"])

    store = ResultsStore(out)
    try:
        run_id = store.latest_run_id()
        extras = store.generation_extras(run_id)
    finally:
        store.close()
    sources = sorted(e["lora"]["source"] for e in extras.values())
    # 3 cases (dog/00, dog/01, teapot/00) × 3 generators sharing one LoRA per subject: 2 trainings
    assert sources.count("trained") == 2 and sources.count("cache") == 7, sources
    assert len({e["lora"]["key"] for e in extras.values()}) == 2

    run = load_run(str(out))
    for table, rows in (("vwarper-table1", ["V-Warper"]),
                        ("vwarper-table2", ["(I) Coarse Appearance Adaptation", "(II) (I)+Value Warping",
                                            "(III) (II)+Masking (Ours)"]),
                        ("vwarper-tableA1", ["V-Warper (Ours)"])):
        result = reproduce(load_table(table), run)
        for row in rows:
            cells = [c for c in result.cells if c.row == row]
            measured = [c for c in cells if c.n == 3]
            assert measured, (table, row, [(c.column, c.note) for c in cells])
        text = invoke(["reproduce", table, str(out)])
        assert rows[-1].split(" ")[0] in text

    invoke(["report", str(out), "-f", "html", "-o", str(tmp_path / "report.html")])
    assert "Per-subject training loss" in (tmp_path / "report.html").read_text()

    analysis = tmp_path / "analysis"
    from transformers import Dinov2Config, Dinov2Model

    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                             patch_size=8, image_size=32)).save_pretrained(tmp_path / "dino")
    gen = "vwarper[" + ",".join(f"{k}={v}" for k, v in common.items()) + "]"
    text = invoke(["analyze", "correspondence-pck", DATASET, "-g", gen, "--root", str(shared_data), "--limit", "1",
                   "--set", f"dense_backbone={tmp_path / 'dino'}", "--set", "steps=[1,2]", "--set", "short_side=32",
                   "--out", str(analysis)])
    assert "rope-free-qk: best layer" in text and (analysis / "correspondence_pck.png").is_file()
