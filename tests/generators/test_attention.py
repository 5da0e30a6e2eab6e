"""Attention control on the real diffusers attention modules (tiny random weights, CPU)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import tiny_pipelines as tp  # noqa: E402
from observing import ObserveQ  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.attention import (  # noqa: E402
    AttentionController,
    ExtendKV,
    FeatureStore,
    Inject,
    Record,
    block_filter,
    controlled,
    self_attention_layers,
)
from evalkit.generators.families import family_class  # noqa: E402


@pytest.fixture(scope="module")
def wan():
    return tp.tiny_wan().transformer.eval()


def wan_inputs(batch=1, seed=0, frames=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 16, frames, 4, 4, generator=g)  # 3 latent frames, 4×4 → 12 tokens
    emb = torch.randn(batch, 7, 32, generator=g)
    t = torch.full((batch,), 500.0)
    return dict(hidden_states=x, timestep=t, encoder_hidden_states=emb, return_dict=False)


def test_wan_layers_are_the_self_attentions(wan):
    assert self_attention_layers(wan, family_class("wan")) == ["blocks.0.attn1", "blocks.1.attn1"]
    with pytest.raises(EvalkitError, match="out of range"):
        block_filter(self_attention_layers(wan, family_class("wan")), [5])
    with pytest.raises(EvalkitError, match="unknown model family"):
        self_attention_layers(wan, family_class("mamba"))


def test_controlled_is_bit_identical_without_behaviours_and_restores_processors(wan):
    before = dict(wan.attn_processors)
    with torch.no_grad():
        ref = wan(**wan_inputs())[0]
        with controlled(wan, family_class("wan"), AttentionController()):
            proc = wan.attn_processors["blocks.0.attn1.processor"]
            assert type(proc).__name__ == "WanControlProcessor" and proc.layer == "blocks.0.attn1"
            assert type(wan.attn_processors["blocks.0.attn2.processor"]) is type(before["blocks.0.attn2.processor"])
            out = wan(**wan_inputs())[0]
    assert torch.equal(ref, out)
    assert all(wan.attn_processors[k] is p for k, p in before.items())


def test_processors_get_the_original_backend_explicitly(wan):
    before = dict(wan.attn_processors)
    try:
        wan.set_attention_backend("native")
        with controlled(wan, family_class("wan"), AttentionController()):
            proc = wan.attn_processors["blocks.1.attn1.processor"]
            assert str(proc.backend) == str(before["blocks.1.attn1.processor"]._attention_backend)
            assert proc.backend is not None
    finally:
        wan.set_attn_processor(before)
        for p in before.values():
            p._attention_backend = None


def test_processors_restored_after_an_error(wan):
    before = dict(wan.attn_processors)
    with pytest.raises(RuntimeError):
        with controlled(wan, family_class("wan"), AttentionController()):
            raise RuntimeError("boom")
    assert all(wan.attn_processors[k] is p for k, p in before.items())


def test_record_then_inject_replaces_q_of_selected_layer_only(wan):
    layer1 = block_filter(self_attention_layers(wan, family_class("wan")), [1])
    store = FeatureStore()
    with torch.no_grad(), controlled(wan, family_class("wan"), AttentionController([Record(store=store, key="single",
                                                                            layers=layer1)])):
        wan(**wan_inputs(seed=1))
    assert list(store) == [("blocks.1.attn1", "q", "single")]
    rec = store[("blocks.1.attn1", "q", "single")]
    assert (rec.layout, rec.rope_applied, tuple(rec.tensor.shape)) == ("BSHD", True, (1, 12, 2, 12))
    assert store.nbytes == rec.tensor.numel() * 4
    inject, observe = Inject(store=store, key="single", layers=layer1), ObserveQ(layers=layer1)
    with torch.no_grad(), controlled(wan, family_class("wan"), AttentionController([inject, observe])):
        out = wan(**wan_inputs(seed=2))[0]
    assert torch.equal(observe.seen[("blocks.1.attn1", 0)], rec.tensor)
    assert inject.count == 1
    with torch.no_grad():
        plain = wan(**wan_inputs(seed=2))[0]
    assert not torch.allclose(out, plain)


def test_inject_of_another_shape_is_an_error_naming_the_layer(wan):
    store = FeatureStore()
    with torch.no_grad(), controlled(wan, family_class("wan"), AttentionController([Record(store=store)])):
        wan(**wan_inputs(frames=3))
    with pytest.raises(EvalkitError, match="blocks.0.attn1"):
        with torch.no_grad(), controlled(wan, family_class("wan"), AttentionController([Inject(store=store)])):
            wan(**wan_inputs(frames=2))


def test_per_step_keys_follow_the_controller_step(wan):
    store = FeatureStore()
    first = block_filter(self_attention_layers(wan, family_class("wan")), [0])
    ctrl = AttentionController([Record(store=store, layers=first)])
    with torch.no_grad(), controlled(wan, family_class("wan"), ctrl):
        for step in (4, 7):
            ctrl.start(step=step)
            wan(**wan_inputs(seed=step))
    assert sorted(store) == [("blocks.0.attn1", "q", 4), ("blocks.0.attn1", "q", 7)]
    assert not torch.equal(store[("blocks.0.attn1", "q", 4)].tensor, store[("blocks.0.attn1", "q", 7)].tensor)


def test_extended_attention_with_a_batch_of_one_equals_plain_attention(wan):
    with torch.no_grad():
        plain = wan(**wan_inputs())[0]
        with controlled(wan, family_class("wan"), AttentionController([ExtendKV(passes="both")])):
            ext = wan(**wan_inputs())[0]
    assert torch.equal(plain, ext)


def test_extended_attention_shares_tokens_across_the_batch(wan):
    inputs = wan_inputs(batch=2)
    with torch.no_grad():
        plain = wan(**inputs)[0]
        with controlled(wan, family_class("wan"), AttentionController([ExtendKV(passes="both")])):
            ext = wan(**inputs)[0]
        # two identical items: each attends to two copies of the same keys = plain attention
        same = {**inputs, "hidden_states": inputs["hidden_states"][:1].repeat(2, 1, 1, 1, 1),
                "encoder_hidden_states": inputs["encoder_hidden_states"][:1].repeat(2, 1, 1)}
        same_plain = wan(**same)[0]
        with controlled(wan, family_class("wan"), AttentionController([ExtendKV(passes="both")])):
            same_ext = wan(**same)[0]
    assert not torch.allclose(plain, ext, atol=1e-4)
    torch.testing.assert_close(same_plain, same_ext, rtol=1e-4, atol=1e-5)


def test_cond_only_with_batched_cfg_leaves_the_uncond_half_alone(wan):
    inputs = wan_inputs(batch=4)  # [uncond a, uncond b, cond a, cond b]
    with torch.no_grad():
        plain = wan(**inputs)[0]
        with controlled(wan, family_class("wan"), AttentionController([ExtendKV(passes="cond")]), cfg="batched"):
            ext = wan(**inputs)[0]
    assert torch.equal(plain[:2], ext[:2])  # uncond rows: their own chunk, plain attention
    assert not torch.allclose(plain[2:], ext[2:], atol=1e-4)  # cond rows attend to each other


def test_sequential_cfg_acts_on_the_first_call_of_each_step_only(wan):
    store = FeatureStore()
    ctrl = AttentionController([Record(store=store, key="x")])
    with torch.no_grad(), controlled(wan, family_class("wan"), ctrl, cfg="sequential"):
        wan(**wan_inputs(seed=1))   # conditional call of step 0: recorded
        cond = store[("blocks.0.attn1", "q", "x")].tensor
        wan(**wan_inputs(seed=2))   # unconditional call of step 0: left alone
        assert torch.equal(store[("blocks.0.attn1", "q", "x")].tensor, cond)
        ctrl.on_step_end(None, 0, None, {})
        wan(**wan_inputs(seed=3))   # conditional call of step 1
    assert not torch.equal(store[("blocks.0.attn1", "q", "x")].tensor, cond)


def test_cogvideox_acts_on_video_tokens_only():
    tr = tp.tiny_cogvideox().transformer.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 4, 4, 4, generator=g)  # [B, F, C, H, W] → 3·2·2 = 12 video tokens
    emb = torch.randn(1, 16, 32, generator=g)
    kwargs = dict(hidden_states=x, encoder_hidden_states=emb, timestep=torch.tensor([500]), return_dict=False)
    store = FeatureStore()
    with torch.no_grad():
        ref = tr(**kwargs)[0]
        with controlled(tr, family_class("cogvideox"), AttentionController([Record(store=store, what=("q", "k", "v"),
                                                                     key="single")])):
            out = tr(**kwargs)[0]
    assert torch.equal(ref, out)
    rec = store[("transformer_blocks.0.attn1", "q", "single")]
    assert (rec.layout, tuple(rec.tensor.shape)) == ("BHSD", (1, 4, 12, 16))  # 16 text tokens left out


def test_unet_controls_spatial_self_attention_only():
    unet = tp.tiny_unet_t2v().unet
    names = self_attention_layers(unet, family_class("unet"))
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
    names = self_attention_layers(tr, family_class("ltx"))
    assert names == ["transformer_blocks.0.attn1", "transformer_blocks.1.attn1"]
    store = FeatureStore()
    with torch.no_grad():
        ref = tr(**kwargs)[0]
        with controlled(tr, family_class("ltx"), AttentionController([Record(store=store, key="single")])):
            out = tr(**kwargs)[0]
    assert torch.equal(ref, out)
    rec = store[("transformer_blocks.1.attn1", "q", "single")]
    assert (rec.layout, rec.rope_applied, tuple(rec.tensor.shape)) == ("BSHD", True, (1, 18, 4, 8))
