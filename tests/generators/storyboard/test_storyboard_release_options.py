"""Issue 26's release options of the storyboard package: the paper's default backbone, the paper's
timestep numbering of the phase windows, and ConsiStory's release choices (mask dropout drawn once
per step, 3×3 Gaussian smoothing of the DIFT features, Otsu threshold on the match distances)."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from evalkit.cases import MultiShotCase  # noqa: E402
from evalkit.generators.methods.storyboard import dift, passes, refine  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402

SET = MultiShotCase("set", "a dog", ("a dog runs", "a dog jumps", "a dog sits"))
UNET = dict(backbone="zeroscope", steps=5, height=32, width=32, num_frames=4)


@pytest.mark.parametrize("name", ["storyboard", "full-q-preservation", "consistory"])
def test_the_storyboard_methods_default_to_the_papers_backbone(name):
    assert GENERATORS.get(name)().settings.backbone == "videocrafter2"          # MbQ Sec. 5, not Wan
    assert GENERATORS.get(name)(backbone="zeroscope").settings.backbone == "zeroscope"


class _DDIM50:
    """A family whose schedule is 50 DDIM steps with steps_offset 1 (VideoCrafter2's t = 981, 961, …, 1)."""

    def schedule(self, steps):
        from diffusers import DDIMScheduler

        sched = DDIMScheduler(num_train_timesteps=1000, steps_offset=1, timestep_spacing="leading")
        sched.set_timesteps(steps)
        return sched


def test_phase_windows_take_the_papers_timestep_numbering_on_request():
    sampler = GENERATORS.get("storyboard")(steps=50).settings
    paper = GENERATORS.get("storyboard")(steps=50, window_timesteps="paper").settings
    ws, wp = passes.phase_windows(_DDIM50(), sampler), passes.phase_windows(_DDIM50(), paper)
    assert ws["timesteps"][:2] == [981.0, 961.0] and wp["timesteps"][:2] == [1000.0, 980.0]
    assert sorted(ws["sdsa"]) == list(range(2, 22)) and sorted(wp["sdsa"]) == list(range(3, 23))   # [550, 950]
    assert sorted(ws["pres"]) == list(range(0, 12)) and sorted(wp["pres"]) == list(range(0, 13))   # t >= 750
    assert sorted(ws["refine"]) == list(range(2, 20)) and sorted(wp["refine"]) == list(range(3, 21))
    assert ws["dift"] == wp["dift"] == 36                   # DIFT stays on the sampler's t = 261


def test_step_dropout_is_one_draw_per_step_and_grid_shared_by_every_call():
    subject = torch.ones((3, 4, 64), dtype=torch.bool)
    subject[:, :, :8] = False
    masks = passes.step_dropout(lambda step, per_frame: subject[..., :per_frame], 0.5, torch.Generator().manual_seed(0))
    a, b = masks(2, 64), masks(2, 64)
    assert a is b                                                          # every layer / attender of step 2
    assert not torch.equal(masks(3, 64), a)                                # a new draw at the next step
    assert masks(2, 16).shape == (3, 4, 16)                                # and per token grid
    assert not (a & ~subject).any() and 0.35 < a[subject].float().mean() < 0.65
    assert passes.step_dropout(lambda step, per_frame: None, 0.5, torch.Generator())(2, 64) is None


def test_dift_smoothing_is_consistorys_normalised_3x3_gaussian_with_zero_padding():
    grid = torch.zeros((1, 1, 5 * 6, 2))
    grid[0, 0, 2 * 6 + 3, 0] = 1.0                                         # an impulse at (2, 3), channel 0
    grid[0, 0, :, 1] = 1.0                                                 # a constant channel
    out = dift.gaussian_smooth(grid, (5, 6)).reshape(5, 6, 2)
    e1, e2 = math.exp(-0.5), math.exp(-1.0)
    norm = 1 + 4 * e1 + 4 * e2
    assert out[2, 3, 0].item() == pytest.approx(1 / norm) and out[1, 3, 0].item() == pytest.approx(e1 / norm)
    assert out[1, 2, 0].item() == pytest.approx(e2 / norm) and out[0, 3, 0].item() == 0.0
    assert out[2, 2, 1].item() == pytest.approx(1.0) and out[0, 0, 1].item() == pytest.approx((1 + 2 * e1 + e2) / norm)


def test_otsu_threshold_drops_the_far_matches():
    # shot 0 (anchor) has subject tokens along two directions; shot 1's subject tokens: 6 close, 2 far
    feats = torch.zeros((2, 1, 8, 3))
    feats[0, 0, :, 0] = 1.0
    feats[1, 0, :6] = torch.tensor([1.0, 0.05, 0.0])
    feats[1, 0, 6:] = torch.tensor([0.0, 1.0, 0.2])
    masks = torch.ones((2, 1, 8), dtype=torch.bool)
    _, plain = refine.anchor_matches(feats, masks, anchors=(0,))
    _, otsu = refine.anchor_matches(feats, masks, anchors=(0,), threshold="otsu")
    assert plain[1].all() and otsu[1, 0, :6].all() and not otsu[1, 0, 6:].any()


def test_consistory_release_options_reach_the_passes(tiny_dirs, tmp_path_factory, monkeypatch):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["CIDAS/clipseg-rd64-refined"])
    seen = {"smooth": 0, "threshold": [], "step_dropout": 0}
    smooth, matches, dropout = dift.gaussian_smooth, refine.anchor_matches, passes.step_dropout

    def spy_smooth(feats, grid):
        seen["smooth"] += 1
        return smooth(feats, grid)

    def spy_matches(*args, **kwargs):
        seen["threshold"].append(kwargs.get("threshold"))
        return matches(*args, **kwargs)

    def spy_dropout(*args):
        seen["step_dropout"] += 1
        return dropout(*args)

    monkeypatch.setattr(dift, "gaussian_smooth", spy_smooth)
    monkeypatch.setattr(refine, "anchor_matches", spy_matches)
    monkeypatch.setattr(passes, "step_dropout", spy_dropout)
    opts = dict(UNET, model_path=tiny_dirs("unet"), sdsa_dropout=0.5)
    g = GENERATORS.get("consistory")(**opts, sdsa_dropout_draw="step", dift_smoothing="gaussian3",
                                     refine_threshold="otsu").generate(SET, 3)
    assert seen == {"smooth": 1, "threshold": ["otsu"], "step_dropout": 2}   # passes 2 and 3
    assert g.extras["sdsa_calls"] > 0 and g.extras["refined_calls"] > 0


def test_query_blend_follows_consistorys_strengths_and_range():
    from evalkit.generators.methods.storyboard.q_blend import blend_strengths

    assert blend_strengths(50) == pytest.approx([0.9 - i * (0.9 - 0.81836735) / 5 for i in range(6)])
    off = GENERATORS.get("consistory")(steps=50).settings
    on = GENERATORS.get("consistory")(steps=50, query_blend="consistory").settings
    assert "blend" not in passes.phase_windows(_DDIM50(), off)             # other runs' extras unchanged
    # ConsiStory's t_range [0, 50 // 10] where extended attention acts (SDSA from t = 941, step 2)
    assert sorted(passes.phase_windows(_DDIM50(), on)["blend"]) == [2, 3, 4, 5]


def test_query_blend_runs_a_vanilla_pass_and_blends_its_q(tiny_dirs, tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["CIDAS/clipseg-rd64-refined"])
    # masks of step 0 from the vanilla pass, so SDSA (and with it the blend) changes step 0 already;
    # with the previous step's x̂0 step 0 has no mask, its Q is the vanilla Q and the blend a no-op
    opts = dict(UNET, model_path=tiny_dirs("unet"), refine=False, mask_source="vanilla")
    plain = GENERATORS.get("consistory")(**opts).generate(SET, 3)
    blend = GENERATORS.get("consistory")(**opts, query_blend="consistory").generate(SET, 3)
    assert "q_blended" not in plain.extras and "blend" not in plain.extras["steps"]
    # 5 steps: t = 800, 600, … -> SDSA steps {0, 1}, blend range [0, 5 // 10] -> step 0, s = 0.9
    assert blend.extras["steps"]["blend"] == [0] and blend.extras["q_blended"] > 0
    assert any(not torch.equal(torch.from_numpy(a.frames), torch.from_numpy(b.frames))
               for a, b in zip(plain.videos, blend.videos))
