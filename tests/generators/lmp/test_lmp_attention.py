"""LMP's attention pieces on known inputs: RMTM's KV concatenation against extended attention and a
hand-written softmax, the subject-attention probe against the dense attention matrix."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from evalkit.generators.attention import AttentionCall, AttentionController, ExtendKV  # noqa: E402
from evalkit.generators.attention.compute import attend  # noqa: E402
from evalkit.generators.methods.lmp.kv_concat import ConcatReferenceKV  # noqa: E402
from evalkit.generators.methods.lmp.text_attention import SubjectAttentionProbe, subject_attention  # noqa: E402

H, TEXT, VIDEO, D = 2, 3, 5, 8


def qkv(batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, H, TEXT + VIDEO, D, generator=g) for _ in range(3)]


def run(behaviour, q, k, v):
    """The behaviour on one call, attended as a family processor does: [B, S, H, D]."""
    chunks = AttentionController([behaviour]).process("transformer_blocks.0.attn1", q, k, v, layout="BHSD",
                                                      video_start=TEXT)
    return attend(chunks, "BHSD", None, None)


def dense(q_row, keys, values, log_weight=None):
    """softmax(q kᵀ/√d + bias) v for one row ([H, S, D] inputs) -> [S, H, D]."""
    logits = q_row @ keys.transpose(-1, -2) / D ** 0.5
    if log_weight is not None:
        logits = logits + log_weight
    return (logits.softmax(-1) @ values).transpose(0, 1)


def test_lambda_one_is_extended_attention_for_the_target_rows_and_plain_for_the_reference():
    q, k, v = qkv(3)   # rows: reference, uncond, cond
    out = run(ConcatReferenceKV(weight=1.0, queries="all"), q, k, v)
    plain = run(ConcatReferenceKV(weight=1.0, active=lambda s: False), q, k, v)
    assert torch.allclose(out[0], plain[0], atol=1e-6)            # the reference attends to itself only
    for row in (1, 2):   # each target row: ExtendKV over [reference, that row] (own keys + reference video keys)
        pair = [t[[0, row]] for t in (q, k, v)]
        extended = run(ExtendKV(passes="both"), *pair)
        assert torch.allclose(out[row], extended[1], atol=1e-6)
        assert not torch.allclose(out[row], plain[row], atol=1e-3)


def test_only_the_targets_video_queries_see_the_reference_by_default():
    q, k, v = qkv(3)
    out = run(ConcatReferenceKV(weight=1.0), q, k, v)
    every = run(ConcatReferenceKV(weight=1.0, queries="all"), q, k, v)
    plain = run(ConcatReferenceKV(active=lambda s: False), q, k, v)
    assert torch.allclose(out[1:, :TEXT], plain[1:, :TEXT], atol=1e-6)    # text queries: own keys
    assert torch.allclose(out[1:, TEXT:], every[1:, TEXT:], atol=1e-6)    # video queries: extended


@pytest.mark.parametrize("reweight", ["keys", "weights"])
def test_reweighting_readings_against_a_written_out_softmax(reweight):
    q, k, v = qkv(2)
    lam, fg = 0.5, torch.tensor([1, 3])
    out = run(ConcatReferenceKV(weight=lam, reweight=reweight, queries="all", tokens=lambda: fg), q, k, v)
    k_ref, v_ref = k[0][:, TEXT:][:, fg], v[0][:, TEXT:][:, fg]
    if reweight == "keys":   # K_ref ← λ K_ref
        want = dense(q[1], torch.cat([k[1], lam * k_ref], 1), torch.cat([v[1], v_ref], 1))
    else:                    # attention weights on the reference × λ, renormalised
        bias = torch.cat([torch.zeros(TEXT + VIDEO), torch.full((len(fg),), float(torch.log(torch.tensor(lam))))])
        want = dense(q[1], torch.cat([k[1], k_ref], 1), torch.cat([v[1], v_ref], 1), bias)
    assert torch.allclose(out[1], want, atol=1e-5)


def test_weights_reading_at_zero_is_plain_attention_and_readings_agree_at_one():
    q, k, v = qkv(3)
    plain = run(ConcatReferenceKV(active=lambda s: False), q, k, v)
    zero = run(ConcatReferenceKV(weight=0.0, reweight="weights"), q, k, v)
    assert torch.allclose(zero, plain, atol=1e-6)
    keys_one = run(ConcatReferenceKV(weight=1.0, reweight="keys"), q, k, v)
    weights_one = run(ConcatReferenceKV(weight=1.0, reweight="weights"), q, k, v)
    assert torch.equal(keys_one, weights_one)


def test_cond_only_leaves_the_unconditional_row_plain_and_empty_foreground_changes_nothing():
    q, k, v = qkv(3)
    plain = run(ConcatReferenceKV(active=lambda s: False), q, k, v)
    cond = run(ConcatReferenceKV(target_passes="cond"), q, k, v)
    assert torch.allclose(cond[1], plain[1], atol=1e-6) and not torch.allclose(cond[2], plain[2], atol=1e-3)
    empty = ConcatReferenceKV(tokens=lambda: torch.tensor([], dtype=torch.long))
    assert torch.equal(run(empty, q, k, v), plain) and empty.count == 0
    alone = ConcatReferenceKV()   # the reference alone (the FBDM probe pass): nothing to extend
    run(alone, *[t[:1] for t in (q, k, v)])
    assert alone.count == 0


def test_subject_attention_equals_the_dense_joint_attention():
    q, k, _ = qkv(1, seed=3)
    subject = [0, 2]
    got = subject_attention(q[0, :, :TEXT], k[0, :, :TEXT], q[0, :, TEXT:], k[0, :, TEXT:], subject)
    attn = (q[0] @ k[0].transpose(-1, -2) / D ** 0.5).softmax(-1)           # [H, S, S] joint attention
    text_to_video = attn[:, subject, TEXT:].mean(dim=(0, 1))
    video_to_text = attn[:, TEXT:, subject].mean(dim=(0, 2))
    assert torch.allclose(got, text_to_video + video_to_text, atol=1e-6)


def test_probe_maps_the_video_row_against_the_text_rows_keys_eq7():
    q, k, v = qkv(2, seed=4)   # row 0: reference (its text holds the subject), row 1: target
    probe = SubjectAttentionProbe(subject=(1,), text_row=0, video_row=-1)
    call = AttentionCall("l", 0, q, k, v, "BHSD", video_start=TEXT)
    probe(call, slice(0, 2))
    probe(call, slice(0, 2))                        # a second layer: the mean over layers
    want = subject_attention(q[0, :, :TEXT], k[0, :, :TEXT], q[1, :, TEXT:], k[1, :, TEXT:], [1])
    assert probe.layers_seen == 2 and torch.allclose(probe.mean(), want, atol=1e-6)
    probe.reset()
    with pytest.raises(Exception, match="no attention call"):
        probe.mean()
