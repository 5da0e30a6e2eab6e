"""FastVMT (local AMF window, gradient reuse) on tiny real pipelines (CPU), against DiTFlow."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from guidance_tiny import square_case  # noqa: E402

from evalkit.generators.methods.guidance.amf import attention_motion_flow  # noqa: E402
from evalkit.generators.methods.guidance.optimise import gradient_descent  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402

#: DiTFlow's defaults spelled out (fast-vmt's own defaults are the FastVMT release's)
DITFLOW_OPTIONS = dict(steps=2, guidance_fraction=0.5, lr_start=0.05, lr_end=0.05, blocks=1, opt_steps=5,
                       optimizer="adam", temperature=2.0, kv_blocks="0")
DITFLOW_REFERENCE = dict(reference_timing="clean", reference_amf="hard", frame_span=0)


def wan(tiny_dirs, size=64, **kw):
    return dict(backbone="wan2.1-1.3b", model_path=tiny_dirs("wan"), height=size, width=size, **kw)


def qk(frames=3, h=4, w=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(2, frames * h * w, 8, generator=gen), torch.randn(2, frames * h * w, 8, generator=gen))


@pytest.mark.parametrize("hard", [True, False])
def test_a_window_covering_every_patch_is_ditflows_amf_exactly(hard):
    q, k = qk()
    full = attention_motion_flow(q, k, frames=3, grid=(4, 4), hard=hard)
    for window in (7, 21):   # 7 = 2·4 − 1: every patch pair of a 4×4 grid
        assert torch.equal(attention_motion_flow(q, k, frames=3, grid=(4, 4), hard=hard, window=window), full)
    assert not torch.equal(attention_motion_flow(q, k, frames=3, grid=(4, 4), hard=hard, window=3), full)


def test_a_one_patch_window_pins_cross_frame_displacements_and_leaves_a_frame_with_itself():
    q, k = qk()
    full = attention_motion_flow(q, k, frames=3, grid=(4, 4))
    one = attention_motion_flow(q, k, frames=3, grid=(4, 4), window=1)
    same = torch.eye(3, dtype=torch.bool)
    assert torch.equal(one[same], full[same])                 # within a frame: full attention (release)
    assert torch.equal(one[~same], torch.zeros_like(one[~same]))   # only the own position is visible


def test_gradient_reuse_steps_with_the_last_computed_gradient():
    target = torch.tensor([1.0, -2.0, 3.0])
    calls = []

    def run(reuse):
        x = torch.zeros(3, requires_grad=True)

        def loss():
            calls.append(reuse)
            return ((x - target) ** 2).sum()
        return x, gradient_descent(loss, lambda: [x], 10, 0.1, reuse_every=reuse)

    x3, losses3 = run(3)
    assert calls.count(3) == 4 and len(losses3) == 4          # updates 0, 3, 6, 9 compute the gradient
    # the same Adam updates by hand, the gradient frozen between computed updates
    y = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([y], lr=0.1)
    for j in range(10):
        if j % 3 == 0:
            g = (2 * (y - target)).detach()
        y.grad = g.clone()
        opt.step()
    assert torch.equal(x3.detach(), y.detach())
    x1, losses1 = run(1)
    assert calls.count(1) == 10 and len(losses1) == 10


def test_no_reuse_and_no_window_is_ditflow_bit_identical(tiny_dirs):
    case = square_case(size=64)
    ref = GENERATORS.get("ditflow")(**wan(tiny_dirs, **DITFLOW_OPTIONS)).generate(case, 0)
    for window in (0, 7):   # 64 px -> 8×8 latent -> 4×4 patches: 7 covers them all
        g = GENERATORS.get("fast-vmt")(**wan(tiny_dirs, **DITFLOW_OPTIONS), **DITFLOW_REFERENCE, window=window,
                                       reuse_interval=1).generate(case, 0)
        assert np.array_equal(g.video.frames, ref.video.frames), window
        assert g.extras["losses"] == ref.extras["losses"] and g.extras["backward_passes"] == 5
    windowed = GENERATORS.get("fast-vmt")(**wan(tiny_dirs, **DITFLOW_OPTIONS), **DITFLOW_REFERENCE, window=3,
                                          reuse_interval=1).generate(case, 0)
    assert windowed.extras["losses"] != ref.extras["losses"]


def test_release_defaults_reuse_and_the_loss_decreases(tiny_dirs):
    gen = GENERATORS.get("fast-vmt")(**wan(tiny_dirs, steps=2, guidance_fraction=0.5, blocks=1, lr_start=0.05,
                                           lr_end=0.05))
    s = gen.settings
    assert (s.window, s.reuse_interval, s.opt_steps, s.optimizer, s.temperature) == (21, 3, 10, "adamw", 1.0)
    assert (s.reference_timing, s.reference_amf, s.kv_blocks, s.frame_span) == ("per-step", "soft", "none", 4)
    g = gen.generate(square_case(size=64), 0)
    losses = g.extras["losses"]["0"]
    # 10 updates, a computed gradient at 0, 3, 6, 9: 4 backward passes, 6 reused gradients
    assert (g.extras["backward_passes"], g.extras["reused_gradients"], len(losses)) == (4, 6, 4)
    assert g.extras["kv_injections"] == 0
    assert GENERATORS.get("fast-vmt")(backbone="wan2.1-14b").settings.blocks == (14,)   # the release's block


def test_the_windowed_amf_loss_decreases_with_reused_gradients(tiny_dirs):
    # the clean reference: at the first step the per-step reference (σ ≈ 1, the generation's own noise)
    # is nearly the generation itself, so its loss starts near 0 on the tiny model
    g = GENERATORS.get("fast-vmt")(**wan(tiny_dirs, steps=2, guidance_fraction=0.5, blocks=1, lr_start=0.05,
                                         lr_end=0.05, window=3, reference_timing="clean")).generate(
        square_case(size=64), 0)
    losses = g.extras["losses"]["0"]
    assert len(losses) == 4 and losses[-1] < losses[0], losses


def test_the_per_step_reference_is_the_clean_reference_pass_at_the_noised_source(tiny_dirs, monkeypatch):
    """reference_timing=per-step: at guided step i the reference AMF comes from the source noised to
    t_i with the generation's initial noise (the release), not from the clean source at t = 0."""
    from evalkit.generators.methods.guidance.fast_vmt import FastVMT

    seen = []
    original = FastVMT.target_at

    def spy(self, run, i):
        out = original(self, run, i)
        seen.append((i, out))
        return out
    monkeypatch.setattr(FastVMT, "target_at", spy)
    opts = wan(tiny_dirs, steps=4, guidance_fraction=0.5, blocks=1, opt_steps=2, lr_start=0.05, lr_end=0.05)
    gen = FastVMT(**opts)
    g = gen.generate(square_case(size=64), 0)
    assert [i for i, _ in seen] == [0, 1] and set(g.extras["losses"]) == {"0", "1"}
    assert not torch.equal(seen[0][1][0], seen[1][1][0])      # a different reference per step
    clean = FastVMT(**opts, reference_timing="clean", reference_amf="soft")
    x0 = clean.source_latents(square_case(size=64))
    clean.latent_grid = x0.grid
    at_zero = clean.reference(x0, square_case(size=64), 0)
    assert not torch.equal(at_zero[0], seen[0][1][0])


def test_frame_span_compares_only_the_releases_frame_pairs(tiny_dirs):
    gen = GENERATORS.get("fast-vmt")(**wan(tiny_dirs, blocks=1, window=0, frame_span=2, pair_weights="uniform"))
    ref, out = torch.zeros(3, 3, 4, 2), torch.zeros(3, 3, 4, 2)
    out[1, 0] = 5.0          # j < i: never compared
    out[0, 2] = 7.0          # j − i = 2 ≥ span: not compared
    gen.flows = lambda feats, hard: [out]
    assert float(gen.loss([ref], {})) == 0.0
    out[1, 2] = 3.0          # j − i = 1 < span: compared, 1 of the 5 pairs (0,0) (0,1) (1,1) (1,2) (2,2)
    assert float(gen.loss([ref], {})) == pytest.approx(9.0 / 5)
    release = GENERATORS.get("fast-vmt")(**wan(tiny_dirs, blocks=1, window=0, frame_span=2))
    release.flows = lambda feats, hard: [out]
    assert float(release.loss([ref], {})) == pytest.approx(0.8 * 9.0 / 5)   # distance 1 of span 2: weight 0.8


def test_evalkit_run_with_fast_vmt_on_the_tiny_wan(tiny_dirs, tmp_path):
    from cli_runs import run_config

    cfg = {"dataset": {"name": "synthetic", "motions": ["translation"], "num_frames": 5, "height": 32, "width": 32},
           "metrics": ["runtime"]}
    spec = (f"fast-vmt[backbone=wan2.1-1.3b,model_path={tiny_dirs('wan')},steps=2,height=32,width=32,"
            "guidance_fraction=0.5,blocks=1,opt_steps=4]")
    _, df = run_config(tmp_path, cfg, "-g", spec, "--limit", "1")
    runtime = df[df.metric_name == "runtime"]
    assert len(runtime) == 1 and (runtime.value > 0).all() and (runtime.status == "ok").all()
    assert runtime.generator.iloc[0].startswith("fast-vmt[")
