"""DiTFlow (AMF guidance; z_t and ρ) on tiny real pipelines (CPU)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from guidance_tiny import square_case, tiny_cogvideox_sincos  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402

FAST = dict(steps=2, guidance_fraction=0.5, lr_start=0.05, lr_end=0.05, blocks=1)


@pytest.fixture(scope="module")
def sincos_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cog_sincos")
    tiny_cogvideox_sincos().save_pretrained(str(folder))
    return str(folder)


def cog(tiny_dirs, **kw):
    return dict(backbone="cogvideox-5b", model_path=tiny_dirs("cogvideox"), height=48, width=48, **kw)


def decreasing(losses):
    return losses[-1] < losses[0]


@pytest.mark.parametrize("variable", ["latent", "positional"])
def test_amf_loss_decreases_over_the_optimisation_steps(tiny_dirs, variable):
    g = GENERATORS.get("ditflow")(**cog(tiny_dirs, **FAST), optimise=variable).generate(square_case(), 0)
    losses = g.extras["losses"]["0"]
    assert len(losses) == 5 and decreasing(losses), losses
    assert g.extras["guided_steps"] == [0] and g.extras["optimised"] == variable
    assert g.extras["guidance_layers"] == ["transformer_blocks.1.attn1"]
    assert g.extras["kv_layers"] == ["transformer_blocks.0.attn1"] and g.extras["kv_injections"] > 0
    # 9 source frames -> 3 latent frames, 48 px -> 6×6 latent -> 3×3 patches per frame
    assert g.video.frames.shape == (9, 48, 48, 3) and g.timings.optimization > 0 and g.timings.inversion > 0


def test_positional_variant_on_the_additive_sincos_embedding(sincos_dir):
    opts = dict(backbone="cogvideox-2b", model_path=sincos_dir, height=48, width=48, **FAST)
    g = GENERATORS.get("ditflow")(**opts, optimise="positional").generate(square_case(), 0)
    assert decreasing(g.extras["losses"]["0"])
    van = GENERATORS.get("vanilla")(backbone="cogvideox-2b", model_path=sincos_dir, height=48, width=48, steps=2,
                                    num_frames=9).generate(square_case(), 0)
    assert not np.array_equal(g.video.frames, van.video.frames)


@pytest.mark.parametrize("extra", [dict(guidance_fraction=0.0), dict(opt_steps=0, kv_blocks="none")])
def test_zero_optimisation_is_bit_identical_to_vanilla(tiny_dirs, extra):
    opts = cog(tiny_dirs, steps=2)
    van = GENERATORS.get("vanilla")(**opts, num_frames=9).generate(square_case(), 5)
    for variable in ("latent", "positional"):
        g = GENERATORS.get("ditflow")(**opts, blocks=1, optimise=variable, **extra).generate(square_case(), 5)
        assert np.array_equal(g.video.frames, van.video.frames), (variable, extra)


def test_zero_shot_reuses_the_optimised_rho_on_another_prompt(tiny_dirs):
    opts = cog(tiny_dirs, **FAST, optimise="positional")
    same = square_case(target="a dog runs", source="a dog runs")
    optimised = GENERATORS.get("ditflow")(**opts).generate(same, 3)
    zs = GENERATORS.get("ditflow")(**opts, zero_shot=True)
    replayed = zs.generate(same, 3)
    # optimise on the source prompt, replay for the same prompt: exactly the optimised generation
    assert np.array_equal(replayed.video.frames, optimised.video.frames)
    assert replayed.extras["zero_shot"] == {"optimised_on": "a dog runs", "reused": False}
    assert replayed.timings.optimization > 0
    other = zs.generate(square_case(target="a cat on a road", source="a dog runs"), 3)
    assert other.extras["zero_shot"]["reused"] and other.timings.optimization == 0.0
    assert other.extras["mode"] == "replay" and other.extras["losses"] == replayed.extras["losses"]
    plain = GENERATORS.get("vanilla")(**cog(tiny_dirs, steps=2), num_frames=9).generate(
        square_case(target="a cat on a road"), 3)
    assert not np.array_equal(other.video.frames, plain.video.frames)


def test_truncated_forward_and_checkpointing_give_the_same_result(tiny_dirs):
    opts = cog(tiny_dirs, **{**FAST, "blocks": 0})
    base = GENERATORS.get("ditflow")(**opts).generate(square_case(), 1)
    full = GENERATORS.get("ditflow")(**opts, truncate=False, gradient_checkpointing="off").generate(square_case(), 1)
    assert np.allclose(base.extras["losses"]["0"], full.extras["losses"]["0"], rtol=1e-5, atol=1e-7)
    assert np.abs(base.video.frames.astype(int) - full.video.frames.astype(int)).max() <= 1


def test_ditflow_on_wan_and_refused_on_a_unet(tiny_dirs):
    opts = dict(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), height=32, width=32, **FAST)
    for variable in ("latent", "positional"):
        g = GENERATORS.get("ditflow")(**opts, optimise=variable).generate(square_case(size=32), 0)
        assert decreasing(g.extras["losses"]["0"]), variable
        assert g.extras["guidance_layers"] == ["blocks.1.attn1"]
    with pytest.raises(EvalkitError, match="runs on the families cogvideox, wan"):   # at construction (plan time)
        GENERATORS.get("ditflow")(backbone="zeroscope", model_path=tiny_dirs("unet"), steps=2)


def test_reference_kv_is_recorded_with_the_original_positions(tiny_dirs):
    """DiTFlow's release records the reference's KV with ρ₀ even while ρ is being optimised: the
    KV recorded at the last guided step is the same for the z_t and the ρ variant."""
    cls = GENERATORS.get("ditflow")

    class Keeping(cls):
        def new_run(self, *args, **kwargs):
            self.last_run = super().new_run(*args, **kwargs)
            return self.last_run

    opts = cog(tiny_dirs, **{**FAST, "steps": 3, "guidance_fraction": 1.0})
    kv = {}
    for variable in ("latent", "positional"):
        gen = Keeping(**opts, optimise=variable)
        gen.generate(square_case(), 4)
        kv[variable] = gen.last_run.kv.store[("transformer_blocks.0.attn1", "k", "kv")].tensor
    assert torch.equal(kv["latent"], kv["positional"])
