"""The vwarper generator on a tiny real CogVideoX pipeline (loaded through the generators' path)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402,F401  (makes torchvision importable, which peft needs)

from evalkit.cases import ImageFiles, InlineVideo, MotionTransferCase, PersonalizationCase  # noqa: E402
from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.families.base import Embeds, Latents  # noqa: E402
from evalkit.generators.methods.vwarper.inversion import ddim_inversion  # noqa: E402
from evalkit.generators.methods.vwarper.prompts import SubjectPrompts  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

PROMPT = "a sks dog runs on the road"


@pytest.fixture
def opts(tiny_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    return dict(model_path=tiny_dirs("cogvideox"), steps=3, height=32, width=32, num_frames=9, match_layer=0,
                warp_layers="1", warp_steps="1-2", lora="none", lora_rank=4, lora_steps=3)


def make_case(folder: Path, subject="dog", index=0, seed=0) -> PersonalizationCase:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(2):
        paths.append(folder / f"{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), np.uint8)).save(paths[-1])
    return PersonalizationCase(f"{subject}/{index:02d}", subject, "dog", PROMPT, ImageFiles(tuple(paths)))


def test_names_options_and_refusals(opts, tmp_path):
    assert {"vwarper", "vwarper-coarse", "vwarper-nomask"} <= set(GENERATORS.names())
    assert GENERATORS.get("vwarper-coarse")().options["injection"] == "none"
    assert GENERATORS.get("vwarper-nomask")().options["masks"] == "none"
    v = GENERATORS.get("vwarper")()
    steps = v.settings.warp_steps
    assert (v.options["backbone"], v.options["num_frames"], v.fps, steps[0], steps[-1]) == \
        ("cogvideox-5b", 25, 16.0, 3, 19)
    with pytest.raises(EvalkitError, match="vwarper runs on the families cogvideox"):
        GENERATORS.get("vwarper")(backbone="wan2.1-1.3b")
    with pytest.raises(EvalkitError, match="injection"):
        GENERATORS.get("vwarper")(injection="warp-everything")
    mt = MotionTransferCase("m", InlineVideo(Video(np.zeros((2, 8, 8, 3), np.uint8))), "a cat")
    with pytest.raises(EvalkitError, match="does not accept motion-transfer"):
        GENERATORS.get("vwarper")(**opts)(mt, 0)


def test_coarse_only_without_a_lora_is_the_pipelines_own_generation(opts, tmp_path):
    gen = GENERATORS.get("vwarper-coarse")(**opts)
    g = gen.generate(make_case(tmp_path / "refs"), seed=3)
    out = gen.pipe(prompt=PROMPT, negative_prompt="", num_frames=9, height=32, width=32, num_inference_steps=3,
                   guidance_scale=6.0, generator=torch.Generator().manual_seed(3), output_type="np").frames
    assert np.array_equal(g.video.frames, gen.to_video(out, 16.0, "pipe").frames)
    assert g.video.fps == 16.0 and g.timings.inversion == 0.0 and g.extras["lora"] == {"source": "none"}


def test_warping_that_injects_nothing_leaves_the_generation_alone_and_masked_warping_changes_it(opts, tmp_path):
    case = make_case(tmp_path / "refs")
    coarse = GENERATORS.get("vwarper-coarse")(**opts).generate(case, 0).video.frames.astype(int)
    idle = GENERATORS.get("vwarper")(**opts, tau_fg=1.0).generate(case, 0)    # no token above 1 after min–max
    assert [s["injected"] for s in idle.extras["mask_stats"]] == [0.0, 0.0]
    assert np.abs(idle.video.frames.astype(int) - coarse).max() <= 1           # batch of 2 vs 1: rounding only
    warped = GENERATORS.get("vwarper-nomask")(**opts).generate(case, 0)
    assert [s["injected"] for s in warped.extras["mask_stats"]] == [1.0, 1.0]
    assert warped.extras["injected_calls"] == 2 and warped.extras["token_grid"] == [3, 2, 2]
    assert np.abs(warped.video.frames.astype(int) - coarse).max() > 1
    assert warped.timings.inversion > 0 and warped.extras["reference_image"] == "00.png"


@pytest.mark.parametrize("injection", ["kv-replace", "token-concat"])
def test_appendix_b2_injections_run(opts, tmp_path, injection):
    g = GENERATORS.get("vwarper")(**opts, injection=injection, masks="none").generate(make_case(tmp_path / "r"), 0)
    assert g.video.frames.shape == (9, 32, 32, 3) and g.extras["injected_calls"] == 2


def test_a_personalization_run_trains_caches_and_reuses_a_lora_per_subject(opts, tmp_path):
    gen = GENERATORS.get("vwarper")(**{**opts, "lora": "train", "lora_steps": 2})
    first = gen.generate(make_case(tmp_path / "dog", "dog", 0), 0).extras["lora"]
    second = gen.generate(make_case(tmp_path / "dog", "dog", 1), 0).extras["lora"]
    other = gen.generate(make_case(tmp_path / "cat", "cat", 0, seed=5), 0).extras["lora"]
    assert (first["source"], second["source"], other["source"]) == ("trained", "cache", "trained")
    assert first["key"] == second["key"] != other["key"] and first["token_embedding"]
    assert len(first["loss_curve"]) == 2 and Path(first["loss_plot"]).is_file()


def test_a_given_lora_and_the_output_token_space(opts, tmp_path):
    case = make_case(tmp_path / "dog", "dog", 0)
    coarse = dict(opts, lora="train", lora_steps=2, token_space="output")
    trained = GENERATORS.get("vwarper-coarse")(**coarse).generate(case, 0).extras["lora"]
    assert trained["source"] == "trained" and trained["token_embedding"]
    given = GENERATORS.get("vwarper-coarse")(**{**coarse, "lora": trained["path"]}).generate(case, 0)
    assert given.extras["lora"] == {"source": "given", "path": trained["path"], "token_embedding": True}
    with pytest.raises(EvalkitError, match="token_space='input'"):
        GENERATORS.get("vwarper-coarse")(**{**coarse, "lora": trained["path"], "token_space": "input"}).generate(
            case, 0)


def test_loss_curves_reach_the_report_once_per_training():
    from evalkit.generators.methods.vwarper.coarse import loss_curve
    from evalkit.report.plots import training_curve_data, training_curves_plot

    curve = loss_curve(np.linspace(2.0, 1.0, 250))
    assert len(curve) == 100 and curve[-1][0] == 250 and curve[0][1] == pytest.approx(np.linspace(2, 1, 250)[:2].mean())
    extras = {"g1": {"lora": {"key": "abc", "loss_curve": curve}}, "g2": {"lora": {"key": "abc", "loss_curve": curve}},
              "g3": {"lora": {"source": "none"}}, "g4": {}}
    assert list(training_curve_data(extras)) == ["abc"]
    assert training_curves_plot(extras)[:4] == b"\x89PNG"
    with pytest.raises(EvalkitError, match="no generation recorded a loss curve"):
        training_curves_plot({"g4": {}})


def test_subject_prompts_match_the_pipeline_and_place_the_learned_token(opts, tmp_path):
    gen = GENERATORS.get("vwarper")(**opts)
    gen.load()
    pipe, family = gen.pipe, gen.family
    plain = SubjectPrompts(family, "sks").encode(PROMPT).embeds
    with torch.no_grad():  # as the pipeline runs (autograd changes the kernels' rounding)
        assert torch.equal(plain, pipe.encode_prompt(PROMPT, None, False, device="cpu")[0])
    learned = SubjectPrompts(family, "sks", torch.randn(32))
    pos = learned.positions(PROMPT, ["sks", "dog"], item="dog/00")
    assert len(pos) == 2 and learned.ids(PROMPT)[0, pos[0]] == learned.token_id
    assert not torch.allclose(learned.encode(PROMPT).embeds, plain)
    assert pipe.tokenizer.convert_tokens_to_ids("sks") != learned.token_id      # the shared tokenizer untouched
    with pytest.raises(EvalkitError, match="dog/00: the prompt .* does not contain 'cat'"):
        learned.positions(PROMPT, ["cat"], item="dog/00")
    # token_space="output": T5's output replaced at the subject word's tokens only
    out_space = SubjectPrompts(family, "sks", torch.ones(32) * 7, space="output")
    got = out_space.encode(PROMPT).embeds
    at = out_space.positions(PROMPT, ["sks"])
    others = [i for i in range(got.shape[1]) if i not in at]
    assert (got[0, at] == 7).all() and torch.equal(got[0, others], plain[0, others])
    assert torch.equal(out_space.encode("").embeds, SubjectPrompts(family, "sks").encode("").embeds)


def test_ddim_inversion_follows_the_ddim_update():
    """With a denoiser predicting zero noise (ε), DDIM inversion scales the clean latent by √ᾱ_t
    at each sampling step's noise level."""
    from diffusers import CogVideoXDDIMScheduler

    sched = CogVideoXDDIMScheduler()
    calls = []

    class ZeroNoise:
        def schedule(self, steps, latents=None):
            s = CogVideoXDDIMScheduler()
            s.set_timesteps(steps)
            return s

        def denoise_once(self, latents, t, embeds, grad=False):
            calls.append(int(t))
            return torch.zeros_like(latents.tensor)

    z0 = torch.randn(1, 2, 4, 2, 2)
    traj = ddim_inversion(ZeroNoise(), Latents(z0, 5, 16, 16, 8.0, (2, 2, 2)), Embeds(None), 4)
    sched.set_timesteps(4)
    assert calls == sorted(int(t) for t in sched.timesteps)              # walked up from the lowest noise
    for i, t in enumerate(sched.timesteps):
        assert torch.allclose(traj[i], z0 * float(sched.alphas_cumprod[int(t)]) ** 0.5, atol=1e-6)
    with pytest.raises(EvalkitError, match="prediction type"):
        ddim_inversion(SimpleNamespace(schedule=lambda s, latents=None: SimpleNamespace(
            timesteps=torch.tensor([1]), alphas_cumprod=torch.ones(2), config=SimpleNamespace(prediction_type="x")),
            denoise_once=lambda *a, **k: torch.zeros(1)), Latents(z0, 5, 16, 16, 8.0, (2, 2, 2)), Embeds(None), 1)
