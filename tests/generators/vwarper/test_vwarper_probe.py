"""vwarper as a prober of the PCK correspondence analysis (tiny CogVideoX and tiny DINOv2, CPU)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402,F401
from test_vwarper import make_case  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.methods.vwarper.match_recording import latent_frame_pixels  # noqa: E402
from evalkit.registry import ANALYSES, GENERATORS  # noqa: E402


@pytest.fixture
def gen(tiny_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    return GENERATORS.get("vwarper")(model_path=tiny_dirs("cogvideox"), steps=4, height=32, width=32, num_frames=9,
                                     match_layer=0, warp_layers="1", warp_steps="1-2", lora="none")


def test_latent_frames_stand_for_the_middle_of_their_pixel_group():
    assert latent_frame_pixels(7, 25, 4) == [0, 2, 6, 10, 14, 18, 22]
    assert latent_frame_pixels(3, 9, 4) == [0, 2, 6]


def test_the_probe_records_three_feature_types_per_layer_and_step(gen, tmp_path):
    rec = gen.probe(make_case(tmp_path / "refs"), 0, steps=(1, 3))
    assert sorted(rec.matches) == sorted((f, layer, step) for f in ("intermediate", "raw-qk", "rope-free-qk")
                                         for layer in (0, 1) for step in (1, 3))
    assert all(m.shape == (12,) and m.min() >= 0 and m.max() < 12 for m in rec.matches.values())
    # frame scope: every match stays in its latent frame
    assert all((m // 4 == np.arange(12) // 4).all() for m in rec.matches.values())
    assert rec.frames.shape == (3, 32, 32, 3) and rec.frames.dtype == np.uint8 and rec.grid == (3, 2, 2)
    assert rec.reference.shape == (32, 32, 3) and set(rec.foreground) == {1, 3}
    with pytest.raises(EvalkitError, match="needs the matching branch"):
        GENERATORS.get("vwarper")(**{**gen.options, "injection": "none"}).probe(make_case(tmp_path / "refs"), 0)


def test_the_analysis_runs_on_vwarper(gen, tmp_path):
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                             patch_size=8, image_size=32)).save_pretrained(tmp_path / "dino")
    probe = ANALYSES.get("correspondence-pck")(dense_backbone=str(tmp_path / "dino"), steps=[2], short_side=32,
                                               foreground="all")
    result = probe.run(gen, [make_case(tmp_path / "refs")], out=tmp_path / "out")
    assert len(result.frame) == 3 * 2 and result.frame["pck"].between(0, 1).all()
    assert (tmp_path / "out" / "correspondence_pck.png").is_file()
