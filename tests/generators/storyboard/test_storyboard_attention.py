"""Video Storyboarding's attention pieces against hand-computed references (no pipelines, CPU).

Framewise SDSA (Eq. 1) equals masked softmax attention over [own ⊕ anchors' frame-f keys] on the
U-Net layout and per query frame on the DiT layout; anchors never see non-anchor shots; Q flow
(Eq. 2–4) reproduces the preserved Q when the key frames agree; refinement correspondences
find a known permutation; x̂0 matches diffusers' own schedulers.
"""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from observing import ObserveQ  # noqa: E402

from evalkit.generators.attention import AttentionController  # noqa: E402
from evalkit.generators.attention.compute import attend  # noqa: E402
from evalkit.generators.attention.frames import FrameLayout, key_frames, token_grid  # noqa: E402
from evalkit.generators.attention.q_preserve import PreserveQ, RecordAt  # noqa: E402
from evalkit.generators.attention.sdsa import FramewiseSDSA, frame_sets  # noqa: E402
from evalkit.generators.attention.store import FeatureStore  # noqa: E402
from evalkit.generators.methods.storyboard.q_flow import FlowRecord, QFlow, bracketing_keys, nearest_tokens
from evalkit.generators.methods.storyboard.refine import RefinementInjection, anchor_matches  # noqa: E402
from evalkit.generators.methods.storyboard.subject_masks import downsample  # noqa: E402
from evalkit.generators.x0 import X0Hook, predicted_x0  # noqa: E402


def run_layer(behaviours, q, k, v, layout, video_start=0, cfg="none", step=0):
    """One attention call through the controller and the processors' attention computation."""
    ctrl = AttentionController(behaviours, cfg=cfg)
    ctrl.start(step=step)
    ctrl.on_denoiser_call()
    chunks = ctrl.process("layer", q, k, v, layout=layout, video_start=video_start)
    return attend(chunks, layout, None, None)   # [B, S, H, D]


def reference(q, k, v, mask=None):
    """softmax(q kᵀ/√d + log M) v for one query set [Sq, H, D] and keys [Sk, H, D]."""
    s = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask[None], float("-inf"))
    return torch.einsum("hqk,khd->qhd", s.softmax(-1), v)


def test_frame_layout_round_trips_both_architectures():
    g = torch.Generator().manual_seed(0)
    unet = FrameLayout(shots=3, frames=4, frames_in_rows=True)
    x = torch.randn(2 * 3 * 4, 2, 6, 5, generator=g)           # BHSD, two CFG passes
    f = unet.to_frames(x, "BHSD")
    assert f.shape == (6, 4, 6, 2, 5) and unet.groups(24) == 2
    assert torch.equal(f[4, 2, :, 1], x[4 * 4 + 2, 1]) and torch.equal(unet.from_frames(f, "BHSD"), x)
    dit = FrameLayout(shots=2, frames=3, frames_in_rows=False)
    y = torch.randn(2, 3 * 4, 2, 5, generator=g)               # BSHD: frame-major tokens
    fy = dit.to_frames(y, "BSHD")
    assert torch.equal(fy[1, 2], y[1, 8:12]) and torch.equal(dit.from_frames(fy, "BSHD"), y)
    with pytest.raises(Exception, match="whole sets"):
        unet.groups(10)
    assert key_frames(16, 4) == [0, 4, 8, 12, 15] and key_frames(5, 4) == [0, 4]
    assert token_grid(20 * 36, 320, 576) == (20, 36) and token_grid(12, 32, 32) == (3, 4)


def test_unet_sdsa_is_masked_attention_over_own_and_anchor_frames():
    g = torch.Generator().manual_seed(1)
    shots, frames, s, h, d = 3, 2, 4, 2, 8
    q, k, v = (torch.randn(shots * frames, h, s, d, generator=g) for _ in range(3))   # U-Net BHSD rows = frames
    masks = torch.rand(shots, frames, s, generator=g) > 0.4
    layout = FrameLayout(shots, frames, frames_in_rows=True)
    sdsa = FramewiseSDSA(layout=layout, anchors=(0, 1), masks=lambda step, per_frame: masks)
    out = run_layer([sdsa], q, k, v, "BHSD")
    bshd = [t.transpose(1, 2) for t in (q, k, v)]
    for i in range(shots):
        for f in range(frames):
            r = i * frames + f
            keys, vals, m = [bshd[1][r]], [bshd[2][r]], [torch.ones(s, dtype=torch.bool)]
            for a in (0, 1):
                if a != i:   # an anchor extends with the other anchor only; shot 2 with both anchors
                    keys.append(bshd[1][a * frames + f])
                    vals.append(bshd[2][a * frames + f])
                    m.append(masks[a, f])
            ref = reference(bshd[0][r], torch.cat(keys), torch.cat(vals), torch.cat(m))
            torch.testing.assert_close(out[r], ref, rtol=1e-5, atol=1e-5)
    assert sdsa.count == 1


def test_anchors_never_see_other_shots_and_one_shot_is_plain_attention():
    g = torch.Generator().manual_seed(2)
    shots, frames, s, h, d = 3, 2, 4, 2, 8
    q, k, v = (torch.randn(shots * frames, h, s, d, generator=g) for _ in range(3))
    layout = FrameLayout(shots, frames, frames_in_rows=True)

    def sdsa():
        return FramewiseSDSA(layout=layout, anchors=(0, 1))

    base = run_layer([sdsa()], q, k, v, "BHSD")
    k2, v2 = k.clone(), v.clone()
    # shot 2 (rows 4, 5) is not an anchor
    k2[4:], v2[4:] = torch.randn(2, h, s, d, generator=g), torch.randn(2, h, s, d, generator=g)
    moved = run_layer([sdsa()], q, k2, v2, "BHSD")
    assert torch.equal(moved[:4], base[:4]) and not torch.allclose(moved[4:], base[4:])
    one = FramewiseSDSA(layout=FrameLayout(1, frames, True), anchors=(0,))
    plain = run_layer([], q[:2], k[:2], v[:2], "BHSD")
    assert torch.equal(run_layer([one], q[:2], k[:2], v[:2], "BHSD"), plain) and one.count == 0


def test_sdsa_acts_within_each_cfg_pass_and_leaves_skipped_steps_alone():
    g = torch.Generator().manual_seed(3)
    shots, frames, s, h, d = 2, 2, 3, 1, 4
    q, k, v = (torch.randn(2 * shots * frames, h, s, d, generator=g) for _ in range(3))   # [uncond, cond]
    layout = FrameLayout(shots, frames, frames_in_rows=True)
    both = run_layer([FramewiseSDSA(layout=layout, anchors=(0, 1))], q, k, v, "BHSD", cfg="batched")
    half = run_layer([FramewiseSDSA(layout=layout, anchors=(0, 1))], q[4:], k[4:], v[4:], "BHSD")
    torch.testing.assert_close(both[4:], half)   # the cond pass never attends to uncond rows
    cond_only = run_layer([FramewiseSDSA(layout=layout, anchors=(0, 1), passes="cond")], q, k, v, "BHSD",
                          cfg="batched")
    torch.testing.assert_close(cond_only[:4], run_layer([], q[:4], k[:4], v[:4], "BHSD"))
    no_masks_yet = FramewiseSDSA(layout=layout, anchors=(0, 1), masks=lambda step, n: None)
    assert torch.equal(run_layer([no_masks_yet], q, k, v, "BHSD"), run_layer([], q, k, v, "BHSD"))


def test_dit_sdsa_extends_each_query_frame_with_the_anchor_frame_only():
    g = torch.Generator().manual_seed(4)
    shots, frames, per, text, h, d = 2, 3, 2, 2, 2, 4
    tokens = text + frames * per                                     # CogVideoX-like: text tokens first
    q, k, v = (torch.randn(shots, h, tokens, d, generator=g) for _ in range(3))
    masks = torch.rand(shots, frames, per, generator=g) > 0.3
    sdsa = FramewiseSDSA(layout=FrameLayout(shots, frames, False), anchors=(0, 1),
                         masks=lambda step, n: masks)
    out = run_layer([sdsa], q, k, v, "BHSD", video_start=text)
    qs, ks, vs = (t.transpose(1, 2) for t in (q, k, v))
    for i in range(shots):
        a = 1 - i
        torch.testing.assert_close(out[i, :text], reference(qs[i, :text], ks[i], vs[i]), rtol=1e-5, atol=1e-5)
        for f in range(frames):
            sl = slice(text + f * per, text + (f + 1) * per)
            keys = torch.cat([ks[i], ks[a, sl]])
            m = torch.cat([torch.ones(tokens, dtype=torch.bool), masks[a, f]])
            ref = reference(qs[i, sl], keys, torch.cat([vs[i], vs[a, sl]]), m)
            torch.testing.assert_close(out[i, sl], ref, rtol=1e-5, atol=1e-5)


def test_frame_sets_of_the_turbo_and_naive_variants():
    sets, valid = frame_sets(4, "matching+middle")
    assert sets.tolist() == [[0, 2], [1, 2], [2, 2], [3, 2]] and valid[:, 1].tolist() == [True, True, False, True]
    assert frame_sets(3, "all")[0].tolist() == [[0, 1, 2]] * 3


def test_q_flow_weights_and_matches():
    frames_of = bracketing_keys(5, [0, 4])
    assert [(f, a, b) for f, a, b, _ in frames_of] == [(1, 0, 4), (2, 0, 4), (3, 0, 4)]
    assert frames_of[0][3] == pytest.approx(1 / (1 + math.exp(-0.75)))   # sigmoid((f_B − f)/(f_B − f_A))
    g = torch.Generator().manual_seed(5)
    key = torch.randn(1, 1, 6, 2, 4, generator=g)
    perm = torch.randperm(6, generator=g)
    q = torch.cat([key, key[:, :, perm], key], dim=1)                 # frame 1 = frame 0's tokens permuted
    m = nearest_tokens(q, bracketing_keys(3, [0, 2]))
    assert m.shape == (1, 1, 2, 6) and m[0, 0, 0].tolist() == perm.tolist() == m[0, 0, 1].tolist()


def test_q_flow_with_identical_key_frames_returns_the_preserved_q():
    g = torch.Generator().manual_seed(6)
    shots, frames, s, h, d = 2, 5, 6, 2, 4
    frame = torch.randn(shots, 1, s, h, d, generator=g)
    q_vanilla = frame.expand(shots, frames, s, h, d).reshape(shots * frames, s, h, d).transpose(1, 2)  # U-Net BHSD
    layout, store = FrameLayout(shots, frames, True), FeatureStore()
    run_layer([FlowRecord(store=store, layout=layout, key_frame_stride=2)], q_vanilla, q_vanilla, q_vanilla, "BHSD")
    flow, seen = QFlow(store=store, layout=layout, key_frame_stride=2), ObserveQ()
    run_layer([flow, seen], q_vanilla, q_vanilla, q_vanilla, "BHSD")
    assert flow.count == 1
    torch.testing.assert_close(seen.seen[("layer", 0)], q_vanilla, rtol=1e-6, atol=1e-6)   # w·q + (1 − w)·q
    # a generated Q that differs from the preserved one is re-blended from its key frames
    q_gen = torch.randn(q_vanilla.shape, generator=g)
    canon = layout.to_frames(q_gen, "BHSD")
    seen = ObserveQ()
    run_layer([QFlow(store=store, layout=layout, key_frame_stride=2), seen], q_gen, q_gen, q_gen, "BHSD")
    got = layout.to_frames(seen.seen[("layer", 0)], "BHSD")
    w = 1 / (1 + math.exp(-0.5))
    torch.testing.assert_close(got[:, 1], w * canon[:, 0] + (1 - w) * canon[:, 2])
    assert torch.equal(got[:, [0, 2, 4]], canon[:, [0, 2, 4]])          # key frames keep their Q


def test_q_preservation_records_per_call_and_dropout_keeps_own_tokens():
    g = torch.Generator().manual_seed(7)
    q = torch.randn(2, 8, 2, 4, generator=g)
    store = FeatureStore()
    ctrl = AttentionController([RecordAt(store=store, what=("q",), passes="both")], cfg="sequential")
    for call in range(2):   # Wan: conditional then unconditional call of one step
        ctrl.on_denoiser_call()
        ctrl.process("layer", q + call, q, q, layout="BSHD")
    assert torch.equal(store[("layer", "q", (0, 1))].tensor, q + 1)
    assert torch.equal(store[("layer", "q", (0, 0))].tensor, q)
    own = torch.zeros_like(q)
    drop = PreserveQ(store=store, what=("q",), dropout=0.5, generator=torch.Generator().manual_seed(0))
    seen = ObserveQ()
    run_layer([drop, seen], own, own, own, "BSHD")
    got = seen.seen[("layer", 0)]
    kept_own = (got == 0).all(dim=(2, 3))
    assert 0 < kept_own.float().mean() < 1 and torch.equal(got[~kept_own], q[~kept_own])
    assert drop.count == 1


def test_refinement_matches_a_known_permutation_and_blends_subject_tokens():
    g = torch.Generator().manual_seed(8)
    shots, frames, s, c = 3, 2, 5, 6
    anchor = torch.randn(frames, s, c, generator=g)
    perm = torch.randperm(s, generator=g)
    feats = torch.stack([anchor, torch.randn(frames, s, c, generator=g), anchor[:, perm]])
    masks = torch.ones(shots, frames, s, dtype=torch.bool)
    masks[2, 0, 0] = False
    index, valid = anchor_matches(feats, masks, anchors=(0, 1))
    assert torch.equal(index[2, 1], 1 * s + perm)   # shot 2's frame 1 matches anchor 0's frame 1 (flat index)
    assert not valid[2, 0, 0] and valid[2, 1].all()
    layout = FrameLayout(shots, frames, True)
    out = torch.randn(shots * frames, s, c, generator=g)               # U-Net attention output rows
    module = torch.nn.Identity()
    with RefinementInjection(module, [""], layout, index, valid, 0.8, active=lambda step: True, step=lambda: 0) as r:
        new = module(out)
    canon_out, canon_new = layout.to_frames(out, "BSHD"), layout.to_frames(new, "BSHD")
    flat = canon_out.reshape(-1, c)
    expect = 0.8 * flat[index[2, 1]] + 0.2 * canon_out[2, 1]
    torch.testing.assert_close(canon_new[2, 1], expect)
    assert torch.equal(canon_new[2, 0, 0], canon_out[2, 0, 0]) and r.count == 1


def test_token_masks_take_the_latent_frame_union_and_area_majority():
    pixel = torch.zeros(1, 5, 4, 4, dtype=torch.bool).numpy()
    pixel[0, 2, :2, :2] = True          # latent frame 1 (pixel frames 1..4 with factor 4) holds it
    pixel[0, 0, ::2, ::2] = True        # a quarter of each 2×2 cell: below the majority
    out = downsample(pixel, 2, 4)
    assert out[0, 1].tolist() == [True, False, False, False] and not out[0, 0].any()


def test_x0_matches_diffusers_schedulers_and_the_flow_formula():
    from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

    g = torch.Generator().manual_seed(9)
    x, out = torch.randn(1, 4, 2, 3, 3, generator=g), torch.randn(1, 4, 2, 3, 3, generator=g)
    for kind in ("epsilon", "v_prediction"):
        sched = DDIMScheduler(prediction_type=kind, clip_sample=False)
        sched.set_timesteps(10)
        t = sched.timesteps[3]
        ref = sched.step(out, t, x).pred_original_sample
        torch.testing.assert_close(predicted_x0(sched, x, out, float(t)), ref, rtol=1e-5, atol=1e-5)
    flow = FlowMatchEulerDiscreteScheduler(shift=3.0)
    flow.set_timesteps(10)
    sigma = flow.sigmas[2]
    torch.testing.assert_close(predicted_x0(flow, x, out, float(flow.timesteps[2])), x - sigma * out)


def test_x0_hook_guides_like_the_pipeline_and_recovers_a_known_x0():
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(clip_sample=False)
    g = torch.Generator().manual_seed(10)
    x0, eps_c, eps_u = (torch.randn(2, 4, 2, 3, 3, generator=g) for _ in range(3))
    t = 500
    a = sched.alphas_cumprod[t]
    guided = eps_u + 7.5 * (eps_c - eps_u)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * guided

    class Denoiser(torch.nn.Module):   # batched CFG rows [uncond, cond], as TextToVideoSD calls the U-Net
        def forward(self, sample, timestep):
            return (torch.cat([eps_u, eps_c]),)

    seen = {}
    model = Denoiser()
    with X0Hook(model, sched, "batched", 7.5, lambda step, x: seen.setdefault(step, x), step=lambda: 0):
        model(torch.cat([xt, xt]), torch.tensor([t]))
    torch.testing.assert_close(seen[0], x0, rtol=1e-4, atol=1e-4)
