"""Video Storyboarding on tiny random-weight pipelines of the real classes (CPU).

Known answers: Q preservation alone (no SDSA, no refinement) reproduces the vanilla set bit for
bit, on the U-Net (batched CFG) and on Wan (sequential CFG: each call keeps its own recording);
full Q preservation on one shot equals vanilla; the full method couples the shots and reports
its phases' steps (t ∈ [T, 750], t < 750, [550, 950], [590, 950], DIFT at 261).
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from evalkit.cases import MultiShotCase  # noqa: E402
from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.methods.storyboard.passes import layer_sets  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402

SET = MultiShotCase("set", "a dog", ("a dog runs", "a dog jumps", "a dog sits"))
ONE = MultiShotCase("one", "a dog", ("a dog runs",))
# 5 DDIM steps: t = 800, 600, 400, 200, 0 -> preservation {0}, flow {1..4}, SDSA / refinement {0, 1}, DIFT 3
UNET = dict(backbone="zeroscope", steps=5, height=32, width=32, num_frames=4)


@pytest.fixture(scope="module", autouse=True)
def tiny_clipseg(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["CIDAS/clipseg-rd64-refined"])


def same_set(a, b) -> bool:
    return len(a.videos) == len(b.videos) and all(np.array_equal(x.frames, y.frames)
                                                  for x, y in zip(a.videos, b.videos))


def test_full_q_preservation_with_one_shot_equals_vanilla(tiny_dirs):
    opts = dict(UNET, model_path=tiny_dirs("unet"))
    van = GENERATORS.get("vanilla")(**opts).generate(ONE, 3)
    full = GENERATORS.get("full-q-preservation")(**opts).generate(ONE, 3)
    assert same_set(van, full) and full.extras["q_preserved"] > 0   # vanilla Q replaced by itself


def test_storyboard_couples_the_shots_in_its_phases(tiny_dirs):
    opts = dict(UNET, model_path=tiny_dirs("unet"))
    van = GENERATORS.get("vanilla")(**opts).generate(SET, 3)
    g = GENERATORS.get("storyboard")(**opts, key_frame_stride=2).generate(SET, 3)
    assert len(g.videos) == 3 and all(v.frames.shape == (4, 32, 32, 3) for v in g.videos)
    assert not same_set(van, g)
    e = g.extras
    assert e["steps"] == {"pres": [0], "flow": [1, 2, 3, 4], "sdsa": [0, 1], "refine": [0, 1]} and e["dift_step"] == 3
    assert e["anchors"] == [0, 1] and e["shots"] == 3 and e["sdsa_frames"] == "matching"
    # SDSA at step 0 has no x̂0 yet (masks come from the step before): only step 1 is extended
    assert e["q_preserved"] > 0 and e["q_flowed"] > 0 and e["sdsa_calls"] > 0 and e["refined_calls"] > 0
    assert set(e["passes_s"]) == {"vanilla_pass", "dift_pass"} and g.timings.inversion > 0 and g.timings.inference > 0
    assert 0 < e["mask_subject_fraction"] < 1 and e["q_cache_bytes"] > 0


def test_q_preservation_alone_reproduces_vanilla_on_sequential_cfg(tiny_dirs):
    """Wan runs CFG as two calls per step: each keeps its own vanilla recording (a shared key
    would inject the conditional Q into the unconditional call)."""
    opts = dict(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), steps=3, height=32, width=32, num_frames=5)
    van = GENERATORS.get("vanilla")(**opts).generate(SET, 1)
    full = GENERATORS.get("full-q-preservation")(**opts, sdsa_t="2000-2000", refine=False).generate(SET, 1)
    assert same_set(van, full) and full.extras["q_preserved"] == 3 * 2 * 2   # steps × layers × CFG calls


@pytest.mark.slow
def test_q_preservation_alone_reproduces_vanilla_on_the_unet(tiny_dirs):
    opts = dict(UNET, model_path=tiny_dirs("unet"))
    van = GENERATORS.get("vanilla")(**opts).generate(SET, 2)
    full = GENERATORS.get("full-q-preservation")(**opts, sdsa_t=[2000, 2000], refine=False).generate(SET, 2)
    assert same_set(van, full)
    shots = GENERATORS.get("full-q-preservation")(**opts, refine=False).generate(SET, 2)
    assert not same_set(van, shots)                                  # SDSA on: the shots are coupled


@pytest.mark.slow
def test_storyboard_on_cogvideox_joint_attention(tiny_dirs):
    opts = dict(backbone="cogvideox-2b", model_path=tiny_dirs("cogvideox"), steps=5, height=16, width=16,
                num_frames=9)
    van = GENERATORS.get("vanilla")(**opts).generate(SET, 0)
    g = GENERATORS.get("storyboard")(**opts, key_frame_stride=2).generate(SET, 0)
    assert not same_set(van, g) and g.extras["sdsa_frames"] == "matching"
    assert g.extras["sdsa_calls"] > 0 and g.extras["q_flowed"] > 0 and g.extras["refined_calls"] > 0


@pytest.mark.slow
def test_variants_change_the_result(tiny_dirs):
    opts = dict(UNET, model_path=tiny_dirs("unet"), key_frame_stride=2)
    base = GENERATORS.get("storyboard")(**opts).generate(SET, 5)
    for variant in ({"sdsa_frames": "matching+middle"}, {"q_dropout": 0.4}, {"mask_source": "vanilla"},
                    {"shot_seeds": "offset"}):
        g = GENERATORS.get("storyboard")(**opts, **variant).generate(SET, 5)
        assert not same_set(base, g), variant
    again = GENERATORS.get("storyboard")(**opts).generate(SET, 5)
    assert same_set(base, again)                                       # reproducible


def test_options_and_case_kinds_are_checked(tiny_dirs):
    with pytest.raises(EvalkitError, match="sdsa_t"):
        GENERATORS.get("storyboard")(**UNET, sdsa_t="high-low")
    with pytest.raises(EvalkitError, match="lower one"):
        GENERATORS.get("storyboard")(**UNET, refine_t=[950, 590])
    with pytest.raises(EvalkitError, match="q_mode"):
        GENERATORS.get("storyboard")(**UNET, q_mode="inject")
    assert GENERATORS.get("storyboard").case_kinds == ("multi-shot",)
    gen = GENERATORS.get("storyboard")(**dict(UNET, model_path=tiny_dirs("unet")), sdsa_layers="up")
    gen.load()
    sets = layer_sets(gen.family, gen.settings)
    assert all(n.startswith("up_blocks") for n in sets["names"] if sets["sdsa"](n))


def _videocrafter2_folder(tmp_path_factory, turbo: bool):
    import tiny_pipelines as tp
    return str(tp.tiny_videocrafter2(tmp_path_factory.mktemp("vc2"), turbo=turbo))


@pytest.mark.parametrize("backbone,steps", [("videocrafter2", 5), ("t2v-turbo-v2", 4)])
def test_storyboard_on_the_videocrafter2_port(tmp_path_factory, backbone, steps):
    """The paper's backbones through the family abstraction: sequential CFG with stochastic DDIM
    (VideoCrafter2) and one guidance-embedded call per step (T2V-Turbo-v2, middle-frame variant)."""
    opts = dict(backbone=backbone, model_path=_videocrafter2_folder(tmp_path_factory, turbo=True), steps=steps,
                height=32, width=32, num_frames=4)
    van = GENERATORS.get("vanilla")(**opts).generate(SET, 3)
    full = GENERATORS.get("full-q-preservation")(**opts, sdsa_t=[2000, 2000], refine=False).generate(SET, 3)
    assert same_set(van, full)
    g = GENERATORS.get("storyboard")(**opts, key_frame_stride=2).generate(SET, 3)
    assert not same_set(van, g) and g.extras["sdsa_calls"] > 0 and g.extras["refined_calls"] > 0
    assert g.extras["sdsa_frames"] == ("matching+middle" if backbone == "t2v-turbo-v2" else "matching")


def test_families_without_a_latent_decoder_are_refused_at_construction():
    """Subject masks decode x̂0 through ``family.decode``; LTX has none: a plan-time error, and the
    family's own error names it where something asks anyway."""
    from evalkit.generators.families import family_class

    for name in ("storyboard", "full-q-preservation", "consistory"):
        with pytest.raises(EvalkitError, match="ltx-video.*not supported"):
            GENERATORS.get(name)(backbone="ltx-video")
    with pytest.raises(EvalkitError, match="decoding latents to frames is not available for model family 'ltx'"):
        family_class("ltx")(None, "cpu").decode(torch.zeros(1))
