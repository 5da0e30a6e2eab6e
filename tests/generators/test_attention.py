"""Attention control on the real diffusers attention modules (tiny random weights, CPU)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import tiny_pipelines as tp  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.attention import (AttentionController, block_filter, controlled,  # noqa: E402
                                          self_attention_layers)


@pytest.fixture(scope="module")
def wan():
    return tp.tiny_wan().transformer.eval()


def wan_inputs(batch=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 16, 3, 4, 4, generator=g)  # 3 latent frames, 4×4 → 12 tokens
    emb = torch.randn(batch, 7, 32, generator=g)
    t = torch.full((batch,), 500.0)
    return dict(hidden_states=x, timestep=t, encoder_hidden_states=emb, return_dict=False)


def test_wan_layers_are_the_self_attentions(wan):
    assert self_attention_layers(wan, "wan") == ["blocks.0.attn1", "blocks.1.attn1"]
    with pytest.raises(EvalkitError, match="out of range"):
        block_filter(self_attention_layers(wan, "wan"), [5])


def test_controlled_is_bit_identical_when_off_and_restores_processors(wan):
    before = dict(wan.attn_processors)
    with torch.no_grad():
        ref = wan(**wan_inputs())[0]
        with controlled(wan, "wan", AttentionController()) as ctrl:
            assert type(wan.attn_processors["blocks.0.attn1.processor"]).__name__ == "WanControlProcessor"
            assert type(wan.attn_processors["blocks.0.attn2.processor"]) is type(before["blocks.0.attn2.processor"])
            out = wan(**wan_inputs())[0]
    assert torch.equal(ref, out)
    assert all(wan.attn_processors[k] is p for k, p in before.items())
    assert ctrl.events == []


def test_processors_restored_after_an_error(wan):
    before = dict(wan.attn_processors)
    with pytest.raises(RuntimeError):
        with controlled(wan, "wan", AttentionController()):
            raise RuntimeError("boom")
    assert all(wan.attn_processors[k] is p for k, p in before.items())


def test_record_then_inject_replaces_q_of_selected_layer_only(wan):
    names = self_attention_layers(wan, "wan")
    ctrl = AttentionController(layers=block_filter(names, [1]), mode="record", key="single")
    with torch.no_grad(), controlled(wan, "wan", ctrl):
        wan(**wan_inputs(seed=1))
        assert list(ctrl.store) == [("blocks.1.attn1", "q", "single")]
        rec = ctrl.store[("blocks.1.attn1", "q", "single")]
        assert (rec.layout, rec.rope_applied, tuple(rec.tensor.shape)) == ("BSHD", True, (1, 12, 2, 12))
        ctrl.mode, ctrl.key_for_step, ctrl.observe = "inject", (lambda s: "single"), {}
        ctrl.reset()
        out = wan(**wan_inputs(seed=2))[0]
    assert torch.equal(ctrl.observe[("blocks.1.attn1", 0)], rec.tensor)
    with torch.no_grad():
        plain = wan(**wan_inputs(seed=2))[0]
    assert not torch.allclose(out, plain)


def test_extended_attention_with_a_batch_of_one_equals_plain_attention(wan):
    with torch.no_grad():
        plain = wan(**wan_inputs())[0]
        with controlled(wan, "wan", AttentionController(extend_kv=True, passes="both")):
            ext = wan(**wan_inputs())[0]
    assert torch.equal(plain, ext)


def test_extended_attention_shares_tokens_across_the_batch(wan):
    inputs = wan_inputs(batch=2)
    with torch.no_grad():
        plain = wan(**inputs)[0]
        with controlled(wan, "wan", AttentionController(extend_kv=True, passes="both")):
            ext = wan(**inputs)[0]
        # two identical items: each attends to two copies of the same keys = plain attention
        same = {**inputs, "hidden_states": inputs["hidden_states"][:1].repeat(2, 1, 1, 1, 1),
                "encoder_hidden_states": inputs["encoder_hidden_states"][:1].repeat(2, 1, 1)}
        same_plain = wan(**same)[0]
        with controlled(wan, "wan", AttentionController(extend_kv=True, passes="both")):
            same_ext = wan(**same)[0]
    assert not torch.allclose(plain, ext, atol=1e-4)
    torch.testing.assert_close(same_plain, same_ext, rtol=1e-4, atol=1e-5)


def test_cond_only_with_batched_cfg_leaves_the_uncond_half_alone(wan):
    inputs = wan_inputs(batch=2)
    with torch.no_grad():
        plain = wan(**inputs)[0]
        with controlled(wan, "wan", AttentionController(extend_kv=True, passes="cond", batched_cfg=True)):
            ext = wan(**inputs)[0]
    assert torch.equal(plain[0], ext[0])  # uncond row: its own chunk, plain attention


def test_cogvideox_acts_on_video_tokens_only():
    tr = tp.tiny_cogvideox().transformer.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 4, 4, 4, generator=g)  # [B, F, C, H, W] → 3·2·2 = 12 video tokens
    emb = torch.randn(1, 16, 32, generator=g)
    kwargs = dict(hidden_states=x, encoder_hidden_states=emb, timestep=torch.tensor([500]), return_dict=False)
    ctrl = AttentionController(mode="record", what=("q", "k", "v"), key="single")
    with torch.no_grad():
        ref = tr(**kwargs)[0]
        with controlled(tr, "cogvideox", ctrl):
            out = tr(**kwargs)[0]
    assert torch.equal(ref, out)
    rec = ctrl.store[("transformer_blocks.0.attn1", "q", "single")]
    assert (rec.layout, tuple(rec.tensor.shape)) == ("BHSD", (1, 4, 12, 16))  # 16 text tokens left out


def test_unet_controls_spatial_self_attention_only():
    unet = tp.tiny_unet_t2v().unet
    names = self_attention_layers(unet, "unet")
    assert names and all(".attentions." in n and n.endswith("attn1") for n in names)
    assert not any("temp_attentions" in n or n.startswith("transformer_in") for n in names)


def test_ltx_transformer_controlled_is_identical_and_records_bshd():
    from diffusers import LTXVideoTransformer3DModel

    torch.manual_seed(0)
    tr = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                    num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                    num_layers=2, caption_channels=32).eval()
    g = torch.Generator().manual_seed(0)
    kwargs = dict(hidden_states=torch.randn(1, 2 * 3 * 3, 8, generator=g),
                  encoder_hidden_states=torch.randn(1, 5, 32, generator=g), timestep=torch.tensor([500]),
                  encoder_attention_mask=torch.ones(1, 5), num_frames=2, height=3, width=3,
                  rope_interpolation_scale=(1.0, 1.0, 1.0), return_dict=False)
    names = self_attention_layers(tr, "ltx")
    assert names == ["transformer_blocks.0.attn1", "transformer_blocks.1.attn1"]
    ctrl = AttentionController(mode="record", key="single")
    with torch.no_grad():
        ref = tr(**kwargs)[0]
        with controlled(tr, "ltx", ctrl):
            out = tr(**kwargs)[0]
    assert torch.equal(ref, out)
    rec = ctrl.store[("transformer_blocks.1.attn1", "q", "single")]
    assert (rec.layout, rec.rope_applied, tuple(rec.tensor.shape)) == ("BSHD", True, (1, 18, 4, 8))
