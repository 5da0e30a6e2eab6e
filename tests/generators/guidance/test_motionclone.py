"""MotionClone: sparse temporal-attention guidance; DiT form (Adam, as DiTFlow adapts it) and U-Net
form (the release's score rule inside the DDIM step)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from guidance_tiny import square_case  # noqa: E402

from evalkit.generators.methods.guidance.motionclone import (
    sparse_loss,
    sparse_target,
    temporal_attention_dit,
    temporal_attention_unet,
)
from evalkit.registry import GENERATORS  # noqa: E402


def test_temporal_attention_of_a_dit_against_brute_force():
    g = torch.Generator().manual_seed(0)
    heads, frames, s, d = 2, 3, 4, 8
    q, k = torch.randn(heads, frames * s, d, generator=g), torch.randn(heads, frames * s, d, generator=g)
    probs = temporal_attention_dit(q, k, frames)
    assert probs.shape == (heads, s, frames, frames)
    h, p, f = 1, 2, 0   # head 1, patch 2, query frame 0: softmax over the same patch of every frame
    logits = torch.stack([q[h, f * s + p] @ k[h, j * s + p] for j in range(frames)]) / d ** 0.5
    assert torch.allclose(probs[h, p, f], torch.softmax(logits, 0), atol=1e-6)
    unet = temporal_attention_unet(q.view(heads, frames, s, d).permute(2, 0, 1, 3),
                                   k.view(heads, frames, s, d).permute(2, 0, 1, 3))
    assert torch.allclose(unet.permute(1, 0, 2, 3), probs, atol=1e-6)
    target = sparse_target(probs)
    assert float(sparse_loss(target, probs)) == 0.0
    assert float(sparse_loss(target, probs.flip(-1))) > 0


def test_score_rule_is_the_release_ddim_step_with_the_gradient_in_epsilon():
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False)
    sched.set_timesteps(50)
    g = torch.Generator().manual_seed(0)
    x, eps, grad = (torch.randn(1, 4, 2, 3, 3, generator=g) for _ in range(3))
    i = 3
    t = int(sched.timesteps[i])
    a_t, a_prev = sched.alphas_cumprod[t], sched.alphas_cumprod[t - 20]
    x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5                    # from the unguided ε (release step 3)
    guided = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * (eps - (1 - a_t) ** 0.5 * grad)   # step 6–8, η = 0
    plain = sched.step(eps, t, x).prev_sample
    mc = GENERATORS.get("motionclone")(backbone="zeroscope")
    assert torch.allclose(plain - mc.score_step(SimpleNamespace(sched=sched), i, grad), guided, atol=1e-5)


def unet_opts(tiny_dirs, **kw):
    return dict(backbone="zeroscope", model_path=tiny_dirs("unet"), height=32, width=32, steps=4,
                guidance_fraction=0.5, warm_up_steps=1, cool_down_steps=1, **kw)


def test_unet_form_guides_the_temporal_attention_and_zero_weight_is_vanilla(tiny_dirs):
    c = square_case(frames=4, size=32)
    van = GENERATORS.get("vanilla")(**{k: v for k, v in unet_opts(tiny_dirs).items()
                                       if k in ("backbone", "model_path", "height", "width", "steps")},
                                    num_frames=4).generate(c, 2)
    zero = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs, guidance_weight=0.0)).generate(c, 2)
    assert np.array_equal(zero.video.frames, van.video.frames)
    g = GENERATORS.get("motionclone")(**unet_opts(tiny_dirs)).generate(c, 2)
    assert g.extras["mode"] == "score" and g.extras["kv_layers"] == [] and g.extras["reference_timestep"] == 400
    assert g.extras["guidance_layers"] and all(".temp_attentions." in n for n in g.extras["guidance_layers"])
    assert sorted(g.extras["losses"]) == ["0", "1"] and g.timings.optimization > 0
    assert not np.array_equal(g.video.frames, van.video.frames)


def test_dit_form_loss_decreases(tiny_dirs):
    g = GENERATORS.get("motionclone")(backbone="cogvideox-5b", model_path=tiny_dirs("cogvideox"), height=48,
                                      width=48, steps=2, guidance_fraction=0.5, lr_start=0.05, lr_end=0.05,
                                      blocks=1).generate(square_case(), 0)
    losses = g.extras["losses"]["0"]
    assert g.extras["mode"] == "optimise" and len(losses) == 5 and losses[-1] < losses[0]
    assert g.extras["kv_layers"] == ["transformer_blocks.0.attn1"]


def test_unet_form_on_animatediff_the_release_base(tmp_path):
    """MotionClone's own base (AnimateDiff: motion modules of up_blocks.1)."""
    import tiny_pipelines as tp

    tp.tiny_animatediff().save_pretrained(str(tmp_path / "ad"))
    opts = dict(backbone="animatediff", model_path=str(tmp_path / "ad"), height=32, width=32, steps=4)
    c = square_case(frames=4, size=32)
    van = GENERATORS.get("vanilla")(**opts, num_frames=4).generate(c, 0)
    zero = GENERATORS.get("motionclone")(**opts, guidance_fraction=0.5, guidance_weight=0.0).generate(c, 0)
    assert np.array_equal(zero.video.frames, van.video.frames)
    g = GENERATORS.get("motionclone")(**opts, guidance_fraction=0.5, warm_up_steps=1, cool_down_steps=1).generate(c, 0)
    assert g.extras["guidance_layers"] and all(".motion_modules." in n for n in g.extras["guidance_layers"])
    assert not np.array_equal(g.video.frames, van.video.frames)
