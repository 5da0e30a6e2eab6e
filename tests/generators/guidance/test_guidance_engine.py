"""The guidance engine's pieces without a model: AMF, schedules, token grids, the zero-shot store."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.methods.guidance.amf import amf_loss, attention_motion_flow, cross_frame_logits, token_coords
from evalkit.generators.methods.guidance.features import token_grid  # noqa: E402
from evalkit.generators.methods.guidance.schedule import guided_steps, learning_rate, ramp_weight  # noqa: E402


def orthonormal_tokens(s: int, d: int, heads: int = 2, seed: int = 0):
    """s orthonormal d-vectors (rows), the same in every head: [heads, s, d]."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    return (q[:s] * 4.0).expand(heads, s, d).clone()


def shifted(tokens, h: int, w: int, dx: int):
    """Frame tokens [heads, h·w, d] whose content moved dx columns right (new columns: zeros)."""
    t = tokens.view(tokens.shape[0], h, w, -1)
    out = torch.zeros_like(t)
    out[:, :, dx:] = t[:, :, : w - dx]
    return out.view_as(tokens)


def test_amf_of_a_video_against_itself_is_the_identity_displacement():
    h, w, frames = 3, 4, 3
    frame = orthonormal_tokens(h * w, 16)
    video = torch.cat([frame] * frames, dim=1)        # a static video: every frame the same tokens
    hard = attention_motion_flow(video, video, frames=frames, grid=(h, w), hard=True)
    assert hard.shape == (frames, frames, h * w, 2)
    assert torch.equal(hard, torch.zeros_like(hard))
    soft = attention_motion_flow(video, video, frames=frames, grid=(h, w), temperature=50.0)
    assert soft.abs().max() < 1e-3


def test_amf_recovers_a_known_translation():
    h, w, dx = 3, 5, 1
    f0 = orthonormal_tokens(h * w, 16)
    f1 = shifted(f0, h, w, dx)
    q = torch.cat([f0, f1], dim=1)
    amf = attention_motion_flow(q, q, frames=2, grid=(h, w), hard=True)
    coords = token_coords(h, w)
    inside = coords[:, 0] < w - dx                   # patches that stay in the frame
    # frame 0 -> frame 1: content at (x, y) is found at (x + dx, y)
    assert torch.equal(amf[0, 1][inside], torch.tensor([float(dx), 0.0]).expand(int(inside.sum()), 2))
    # and back: frame 1 -> frame 0 moves by -dx where frame 1 has content
    has_content = coords[:, 0] >= dx
    assert torch.equal(amf[1, 0][has_content], torch.tensor([-float(dx), 0.0]).expand(int(has_content.sum()), 2))


def test_head_average_readings_against_brute_force():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(3, 8, 4, generator=g), torch.randn(3, 8, 4, generator=g)
    per_head = torch.einsum("hnd,hmd->hnm", q, k) / 2.0            # / sqrt(d = 4)
    logits = cross_frame_logits(q, k, frames=2, head_average="logits").reshape(8, 8)
    assert torch.allclose(logits, per_head.mean(0), atol=1e-6)
    averaged = cross_frame_logits(q, k, frames=2, head_average="qk").reshape(8, 8)
    assert torch.allclose(averaged, q.mean(0) @ k.mean(0).T / 2.0, atol=1e-6)
    assert not torch.allclose(averaged, logits)
    with pytest.raises(EvalkitError, match="frames of equal size"):
        cross_frame_logits(q, k, frames=3)


def test_amf_loss_readings():
    ref = torch.zeros(2, 2, 4, 2)
    ref[0, 1, 0] = torch.tensor([1.0, 0.0])
    gen = torch.ones(2, 2, 4, 2)
    assert float(amf_loss(ref, gen, "all")) == pytest.approx(float(((gen - ref) ** 2).mean()))
    # moving: only the reference's moving patch (0 -> 1, patch 0): (1-1)² and (1-0)², mean 0.5
    assert float(amf_loss(ref, gen, "moving")) == pytest.approx(0.5)
    assert float(amf_loss(torch.zeros_like(ref), gen, "moving")) == 0.0


def test_schedules_follow_the_papers():
    assert guided_steps(50, 0.2) == list(range(10))       # DiTFlow: T_opt = 20 % of 50 steps
    assert guided_steps(50, 0.4) == list(range(20))       # DMT: t from 1000 to 600
    assert guided_steps(3, 0.5) == [0, 1] and guided_steps(50, 0.0) == []
    with pytest.raises(EvalkitError, match="outside"):
        guided_steps(50, 1.5)
    lrs = [learning_rate(k, 10, 0.002, 0.001) for k in range(10)]
    assert lrs[0] == 0.002 and lrs[-1] == pytest.approx(0.001)
    code = [learning_rate(k, 10, 0.002, 0.001, "ditflow-code") for k in range(10)]
    assert code[-1] == pytest.approx(0.0011)              # linspace over 11 points, the last unused
    assert learning_rate(3, 10, 0.01, 0.0, "constant") == 0.01
    # MotionClone: warm-up over the first 10 guided steps, cool-down over the last 10
    assert [ramp_weight(k, 180, 10, 10) for k in (0, 9, 10, 100, 175, 179)] == [0.1, 1.0, 1.0, 1.0, 0.5, 0.1]


def test_token_grid_from_the_latent_grid():
    assert token_grid(6 * 30 * 45, (6, 60, 90)) == (6, 30, 45)     # CogVideoX 480×720, patch 2
    assert token_grid(13 * 30 * 52, (13, 60, 104)) == (13, 30, 52)  # Wan 480×832
    with pytest.raises(EvalkitError, match="do not tile"):
        token_grid(7, (2, 4, 4))


def test_gradient_descent_rules_on_a_quadratic():
    from evalkit.generators.methods.guidance.optimise import gradient_descent

    for name in ("adam", "adamw", "sgd"):
        x = torch.zeros(3, requires_grad=True)
        losses = gradient_descent(lambda: ((x - 3.0) ** 2).sum(), lambda: [x], 3, 0.1, optimiser_name=name)
        assert len(losses) == 3 and losses[0] == pytest.approx(27.0) and losses[2] < losses[1] < losses[0], name
    x = torch.zeros(3, requires_grad=True)
    gradient_descent(lambda: ((x - 3.0) ** 2).sum(), lambda: [x], 1, 0.1, optimiser_name="sgd")
    assert torch.allclose(x.detach(), torch.full((3,), 0.6))          # x − lr · 2(x − 3)
    x = torch.zeros(3, requires_grad=True)
    gradient_descent(lambda: ((x - 3.0) ** 2).sum(), lambda: [x], 1, 0.1)
    assert torch.allclose(x.detach(), torch.full((3,), 0.1))          # Adam's first step: lr · sign
    with pytest.raises(EvalkitError, match="not finite"):
        gradient_descent(lambda: (x * float("nan")).sum(), lambda: [x], 1, 0.1)


def test_options_are_declared_for_plan_time_checks():
    """evalkit checks option types and bounds when a plan is loaded: the guidance methods'
    options are declared (types of the None defaults, bounds)."""
    from evalkit.registry import GENERATORS

    mc = GENERATORS.get("motionclone")
    assert mc.checked_options({"guidance_fraction": "0.4", "warm_up_steps": "3"}) == {
        "guidance_fraction": 0.4, "warm_up_steps": 3}
    with pytest.raises(EvalkitError, match="guidance_fraction"):
        GENERATORS.get("ditflow").checked_options({"guidance_fraction": 1.5})
    with pytest.raises(EvalkitError, match="warm_up_steps"):
        mc.checked_options({"warm_up_steps": "abc"})
    assert GENERATORS.get("ditflow").checked_options({"kv_blocks": 0, "blocks": [10, 15]}) == {
        "kv_blocks": 0, "blocks": [10, 15]}
