"""LMP on a tiny CogVideoX pipeline (the real diffusers classes, random weights, CPU)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.cases import InlineVideo, MotionTransferCase  # noqa: E402
from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.families.base import Embeds  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.video import Video  # noqa: E402

SRC, TGT = "a dog runs on the road", "a cat runs on the road"


def case(subject: str = "cat", source_subject: str = "dog") -> MotionTransferCase:
    # 8 frames → 9 (k·4+1), 32×32 px → a 4×4 latent → 2×2 tokens per latent frame, 3 latent frames
    return MotionTransferCase("c1", InlineVideo(Video(tp.moving_square(8, (32, 32)), 8.0)), TGT,
                              source_prompt=SRC, subject=subject, source_subject=source_subject)


@pytest.fixture
def opts(tiny_dirs):
    return dict(backbone="cogvideox-5b", model_path=tiny_dirs("cogvideox"), steps=3, height=32, width=32)


def latents(gen, c, seed: int = 0):
    gen.load()
    return gen.run(c, seed, output_type="latent")


def test_lambda_zero_without_asm_is_vanilla_and_the_paper_setting_is_not(opts):
    """Definition: LMP's target attends to [own tokens; reference foreground tokens] with the weights
    on the reference scaled by λ (rmtm_reweight="weights"). λ = 0 with ASM off must then be the
    vanilla model (same seed, same pipeline loop) although the reference is still denoised in the
    same batch, probed by FBDM and concatenated in every layer; λ = 1 is plain extended attention
    (test_lmp_attention.py checks that against ExtendKV at the attention call). Tolerance: the
    target rows' attention runs as separate (text / extended video) chunks, so results agree to
    float32 rounding, not bit for bit."""
    van = latents(GENERATORS.get("vanilla")(**opts, num_frames=9), case())
    zero = latents(GENERATORS.get("lmp")(**opts, source_frame_repeat=1, rmtm_reweight="weights", rmtm_weight=0.0,
                                         asm="off"), case())
    assert zero.extras["rmtm_calls"] == 2 * 3 and zero.extras["foreground_fractions"]   # 2 layers × 3 steps
    scale = van.frames.abs().max()
    # equal up to float32 rounding (the extended chunks run through other attention kernels): ~1e-6 relative
    assert (zero.frames - van.frames).abs().max() <= 1e-5 * scale
    paper = latents(GENERATORS.get("lmp")(**opts, source_frame_repeat=1, asm="off"), case())
    assert (paper.frames - van.frames).abs().max() > 1e-2 * scale


def test_reference_row_is_the_source_noised_to_each_step_eq10(opts):
    """``renoise``: the row the denoiser sees for the reference at step i is q(z_i | z_0) of the
    encoded source with one fixed noise; the output keeps the target rows only; after the last RMTM
    step the reference leaves the batch."""
    gen = GENERATORS.get("lmp")(**opts, source_frame_repeat=1, asm="off", fbdm=False, rmtm_steps=2)
    gen.load()
    seen = []
    # a forward hook sees the call's inputs as the denoiser got them (after the reference row was added)
    hook = gen.family.denoiser.register_forward_hook(
        lambda m, a, kw, out: seen.append((kw["hidden_states"].shape[0], kw["hidden_states"][0].clone())),
        with_kwargs=True)
    try:
        out = gen.run(case(), 1, output_type="latent")
    finally:
        hook.remove()
    family = gen.family
    frames, fps = gen.source_clip(case(), 1)
    x0 = family.encode_video(frames, fps)
    sched = family.schedule(3)
    noise = torch.randn(x0.tensor.shape, generator=torch.Generator().manual_seed(1000))   # reference_seed
    # fbdm off: no probe pass; [reference, uncond, cond] while RMTM acts, then the base batch
    assert [b for b, _ in seen] == [3, 3, 2]
    for i, (_, row) in enumerate(seen[:2]):
        assert torch.allclose(row, family.noise_to(sched, x0.tensor, noise, i)[0], atol=1e-6)
    assert out.frames.shape == x0.tensor.shape   # the target row only


def test_asm_step_lowers_the_attention_to_the_reference_subject(opts):
    from evalkit.generators.attention import AttentionController, controlled
    from evalkit.generators.methods.lmp.asm import asm_update, checkpointed, frozen
    from evalkit.generators.methods.lmp.masks import subject_token_positions
    from evalkit.generators.methods.lmp.text_attention import SubjectAttentionProbe

    gen = GENERATORS.get("lmp")(**opts)
    gen.load()
    family = gen.family
    frames, fps = gen.source_clip(case(), 1)
    x0 = family.encode_video(frames, fps)
    sched = family.schedule(3)
    g = torch.Generator().manual_seed(0)
    ref = family.noise_to(sched, x0.tensor, torch.randn(x0.tensor.shape, generator=g), 0)
    z = torch.randn(x0.tensor.shape, generator=g)
    probe = SubjectAttentionProbe(subject=subject_token_positions(gen.pipe.tokenizer, SRC, "dog"), video_row=-1,
                                  grad=True, armed=False)
    emb = Embeds(torch.cat([gen.embed(SRC).embeds, gen.embed(TGT).embeds]))

    def forward(zv):
        family.denoise_once(x0.with_tensor(torch.cat([ref, zv])), sched.timesteps[0], emb, grad=True)

    with controlled(family.denoiser, type(family), AttentionController([probe])), frozen(family.denoiser):
        z1, (before,) = asm_update(forward, z, probe, lr=100.0)       # the paper's learning rate
        same, (again,) = asm_update(forward, z, probe, lr=0.0)
        _, (after,) = asm_update(forward, z1, probe, lr=0.0)
        with checkpointed(family.denoiser):   # blocks recomputed in the backward pass: the same step
            assert family.denoiser.is_gradient_checkpointing
            z1_ckpt, (before_ckpt,) = asm_update(forward, z, probe, lr=100.0)
    assert torch.equal(same, z) and again == pytest.approx(before)
    assert after < before and not torch.equal(z1, z)
    assert before_ckpt == pytest.approx(before) and torch.allclose(z1_ckpt, z1, atol=1e-6)
    assert all(p.requires_grad for p in family.denoiser.parameters())   # unfrozen again
    assert not family.denoiser.is_gradient_checkpointing


def test_asm_runs_where_the_subjects_differ_and_is_recorded(opts):
    lmp = GENERATORS.get("lmp")(**opts, source_frame_repeat=1)
    g = lmp.generate(case(), 0)
    assert g.extras["asm"] and len(g.extras["asm_losses"]) == 3            # steps 0, 1, 2 (< asm_steps)
    assert g.timings.optimization > 0 and g.timings.inference > 0 and g.timings.inversion > 0
    assert g.extras["subject_tokens"] == [1] and g.video.frames.shape == (9, 32, 32, 3)
    same = lmp.generate(case(subject="dog"), 0)
    assert not same.extras["asm"] and same.extras["asm_losses"] == [] and same.timings.optimization == 0
    windowed = GENERATORS.get("lmp")(**opts, source_frame_repeat=1, asm_steps="1:2", rmtm_steps=2, fbdm_steps=1,
                                     asm_checkpointing=False)   # (checkpointing would count recomputed calls too)
    w = windowed.generate(case(), 0)
    assert len(w.extras["asm_losses"]) == 1 and w.extras["rmtm_calls"] == 2 * (2 + 1)   # 2 main + 1 ASM pass
    assert len(w.extras["foreground_fractions"]) == 2                                   # probe pass + step 0


def test_missing_or_absent_subject_words_are_errors_naming_the_case(opts):
    lmp = GENERATORS.get("lmp")(**opts, source_frame_repeat=1)
    with pytest.raises(EvalkitError, match="case c1 needs a source prompt and its subject words"):
        lmp.generate(case(source_subject=""), 0)
    with pytest.raises(EvalkitError, match="case c1: subject words 'horse' do not occur"):
        lmp.generate(case(source_subject="horse"), 0)
    with pytest.raises(EvalkitError, match="asm=auto compares"):
        lmp.generate(case(subject=""), 0)
    with pytest.raises(EvalkitError, match="a step count N or a range"):
        GENERATORS.get("lmp")(**opts, asm_steps="first").generate(case(), 0)


def test_ablation_generators_of_table2():
    assert GENERATORS.get("lmp-no-fbdm").defaults["fbdm"] is False
    assert GENERATORS.get("lmp-no-asm").defaults["asm"] == "off"
    assert GENERATORS.get("lmp").defaults["backbone"] == "cogvideox-5b"


def test_the_other_readings_run_and_change_the_result(opts):
    base = latents(GENERATORS.get("lmp")(**opts, source_frame_repeat=1, asm="off"), case()).frames
    for extra in (dict(reference="denoise"), dict(reference_noise="target"), dict(queries="all"),
                  dict(passes="cond"), dict(fbdm_threshold="otsu-frame", rmtm_reweight="weights")):
        other = latents(GENERATORS.get("lmp")(**opts, source_frame_repeat=1, asm="off", **extra), case()).frames
        assert torch.isfinite(other).all() and not torch.allclose(other, base, atol=1e-6), extra
    with pytest.raises(EvalkitError, match="do not occur in the prompt ''"):   # the empty reference prompt
        GENERATORS.get("lmp")(**opts, source_frame_repeat=1, reference_prompt="empty").generate(case(), 0)
