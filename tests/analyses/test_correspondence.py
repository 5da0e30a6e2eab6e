"""The PCK correspondence probe (V-Warper Fig. 4 / App. B.1): dense DINO matches and scoring."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.analyses.correspondence import ProbeRecording, pseudo_ground_truth, score_recording, token_centres
from evalkit.analyses.dense_matches import DenseMatcher  # noqa: E402
from evalkit.compat import ensure_torchvision  # noqa: E402
from evalkit.errors import EvalkitError, InvalidInputError  # noqa: E402
from evalkit.registry import ANALYSES  # noqa: E402

GRID = (1, 8, 8)          # one frame of 8×8 tokens of 8 px (a 64×64 image)
SHIFT = (2, 1)            # the generation frame is the reference rolled by 2 rows, 1 column of tokens


@pytest.fixture(scope="module")
def equivariant_dino(tmp_path_factory):
    """A tiny DINOv2 whose position embeddings are zero: its patch features then follow any roll of
    the image by whole patches exactly, so its nearest-neighbour matches are the known displacement."""
    ensure_torchvision()
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    model = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                     patch_size=8, image_size=64, initializer_range=0.2))
    with torch.no_grad():
        model.embeddings.position_embeddings.zero_()
    folder = tmp_path_factory.mktemp("dino") / "dinov2-equivariant"
    model.save_pretrained(folder)
    return str(folder)


def synthetic_pair(seed=0):
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 256, (64, 64, 3), np.uint8)
    frame = np.roll(reference, (8 * SHIFT[0], 8 * SHIFT[1]), axis=(0, 1))
    return frame, reference


def known_matches(shift=SHIFT):
    """Token (y, x) of the generation shows reference token (y − dy, x − dx) (mod 8)."""
    yy, xx = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    return (((yy - shift[0]) % 8) * 8 + (xx - shift[1]) % 8).ravel()


def recording(matches, foreground=None):
    frame, reference = synthetic_pair()
    fg = {} if foreground is None else {5: foreground}
    return ProbeRecording("pair", frame[None], reference, GRID, matches, fg)


def test_the_probe_on_a_pair_with_known_displacement_gives_pck_1(equivariant_dino):
    matcher = DenseMatcher(equivariant_dino, short_side=None)
    rec = recording({("rope-free-qk", 12, 5): known_matches(), ("raw-qk", 12, 5): np.arange(64)})
    gt = pseudo_ground_truth(matcher, rec)
    centres = token_centres(GRID, (64, 64))
    assert np.allclose(gt[0], centres[known_matches()])                 # DINO recovers the displacement
    rows = {r["feature"]: r for r in score_recording(rec, gt, foreground="all")}
    assert rows["rope-free-qk"]["pck"] == 1.0 and rows["rope-free-qk"]["points"] == 64
    assert rows["raw-qk"]["pck"] == 0.0                                  # "same position" matches: 8–16 px off


def test_pck_counts_the_foreground_only_and_records_an_empty_one(equivariant_dino):
    gt = pseudo_ground_truth(DenseMatcher(equivariant_dino, short_side=None), recording({}))
    wrong = known_matches().copy()
    wrong[32:] = 0
    fg = np.zeros(64, bool)
    fg[:32] = True
    row = score_recording(recording({("intermediate", 0, 5): wrong}, fg), gt)[0]
    assert row["pck"] == 1.0 and row["points"] == 32
    empty = score_recording(recording({("intermediate", 0, 5): wrong}, np.zeros(64, bool)), gt)[0]
    assert np.isnan(empty["pck"]) and "no visible ground-truth point" in empty["error"]
    with pytest.raises(EvalkitError, match="no foreground recorded at step 5"):
        score_recording(recording({("intermediate", 0, 5): wrong}), gt)
    with pytest.raises(InvalidInputError, match="matches for 64 tokens"):
        score_recording(recording({("intermediate", 0, 5): wrong[:10]}, fg), gt)


def test_dinov3_and_dino_v1_backbones_give_patch_grids(tmp_path):
    ensure_torchvision()
    from transformers import DINOv3ViTConfig, DINOv3ViTModel, ViTConfig, ViTModel

    torch.manual_seed(0)
    DINOv3ViTModel(DINOv3ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                                   patch_size=16, num_register_tokens=4)).save_pretrained(tmp_path / "v3")
    ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                       patch_size=16, image_size=224), add_pooling_layer=False).save_pretrained(tmp_path / "v1")
    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), np.uint8)
    for name in ("v3", "v1"):
        fmap = DenseMatcher(str(tmp_path / name), short_side=96).feature_map(image)
        assert fmap.shape == (6, 10, 32) and torch.allclose(fmap.norm(dim=-1), torch.ones(6, 10), atol=1e-5)


class KnownProber:
    """A prober whose internal matches are known: layer 3's are right, layer 7's are not."""
    config = {"name": "known"}

    def probe(self, case, seed, steps, layers):
        matches = {}
        for step in steps:
            matches[("rope-free-qk", 3, step)] = known_matches()
            matches[("rope-free-qk", 7, step)] = np.arange(64)
        frame, reference = synthetic_pair(seed)
        return ProbeRecording(case.case_id, frame[None], reference, GRID, matches,
                              {s: np.ones(64, bool) for s in steps})


def test_the_registered_analysis_writes_its_table_and_plot(equivariant_dino, tmp_path):
    from types import SimpleNamespace

    probe = ANALYSES.get("correspondence-pck")(dense_backbone=equivariant_dino, short_side=None, steps=[10, 20])
    result = probe.run(KnownProber(), [SimpleNamespace(case_id="a"), SimpleNamespace(case_id="b")], seeds=(0,),
                       out=tmp_path)
    assert len(result.frame) == 2 * 2 * 2 and (result.frame["error"] == "").all()
    summary = result.summary()
    assert set(summary["step"]) == {10, 20, "all"}
    assert result.best_layers() == {"rope-free-qk": {"layer": 3, "pck": 1.0}}
    for f in ("correspondence_pck.csv", "correspondence_pck_summary.csv", "correspondence_pck.png",
              "correspondence_pck.json"):
        assert (tmp_path / f).is_file()
    assert (tmp_path / "correspondence_pck.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "correspondence_pck.json").read_text())["config"]["prober"] == {"name": "known"}
    with pytest.raises(EvalkitError, match="records no internal matches"):
        probe.run(object(), [])
