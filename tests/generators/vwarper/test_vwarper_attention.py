"""V-Warper's attention behaviours on the real CogVideoX attention (tiny random weights, CPU):
value warping, RoPE-free Q/K capture, subject-token attention, KV replacement, token concatenation."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

torch = pytest.importorskip("torch")

import tiny_pipelines as tp  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.attention import (  # noqa: E402
    AttentionCall,
    AttentionController,
    Behaviour,
    FeatureStore,
    block_filter,
    controlled,
    self_attention_layers,
)
from evalkit.generators.families import family_class  # noqa: E402
from evalkit.generators.methods.vwarper.attention.branches import branch_pairs  # noqa: E402
from evalkit.generators.methods.vwarper.attention.concat_reference import ConcatReference  # noqa: E402
from evalkit.generators.methods.vwarper.attention.kv_replace import KVReplace, replacement_mask  # noqa: E402
from evalkit.generators.methods.vwarper.attention.rope_free import RecordRopeFree, unrotate  # noqa: E402
from evalkit.generators.methods.vwarper.attention.subject_attention import SubjectAttention  # noqa: E402
from evalkit.generators.methods.vwarper.attention.value_warp import ValueWarp, WarpField  # noqa: E402

TEXT = 6            # text tokens of the test inputs
GRID = (3, 2, 2)    # 9 frames → 3 latent frames; 32×32 px → 4×4 latent → 2×2 patches
N = 12


@dataclass(kw_only=True)
class Observe(Behaviour):
    """Test-side observer: q, k, v (all tokens) of every acted-on call, after the behaviours before it."""
    seen: dict = field(default_factory=dict)

    def __call__(self, call: AttentionCall, rows: slice) -> None:
        self.seen[call.layer] = {w: getattr(call, w)[rows].detach().clone() for w in ("q", "k", "v")}


@pytest.fixture(scope="module")
def pipe():
    return tp.tiny_cogvideox()


def inputs(pipe, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, 4, 4, 4, generator=g)
    emb = torch.randn(batch, TEXT, 32, generator=g)
    rope = family_class("cogvideox")(pipe, "cpu").rotary_embeddings(32, 32, 3)
    return dict(hidden_states=x, encoder_hidden_states=emb, timestep=torch.full((batch,), 500),
                image_rotary_emb=rope, return_dict=False), rope


def run(pipe, behaviours, batch=2, cfg="none"):
    model = pipe.transformer
    kwargs, _ = inputs(pipe, batch)
    with torch.no_grad(), controlled(model, family_class("cogvideox"), AttentionController(behaviours), cfg=cfg):
        return model(**kwargs)[0]


def test_branch_pairs():
    assert branch_pairs(slice(2, 4)) == [(2, 3)]
    assert branch_pairs(slice(0, 4)) == [(0, 1), (2, 3)]
    with pytest.raises(EvalkitError, match="pairs"):
        branch_pairs(slice(0, 3))


@pytest.mark.parametrize("layout", ["BHSD", "BSHD"])
def test_unrotate_inverts_the_rotary_embedding(pipe, layout):
    from diffusers.models.embeddings import apply_rotary_emb

    _, rope = inputs(pipe)
    x = torch.randn(2, 4, N, 16) if layout == "BHSD" else torch.randn(2, N, 4, 16)
    rotated = apply_rotary_emb(x, rope, sequence_dim=2 if layout == "BHSD" else 1)
    assert not torch.allclose(rotated, x)
    assert torch.allclose(unrotate(rotated, rope, layout), x, atol=1e-5)


def test_value_warp_with_identity_correspondence_copies_the_reference_values_in_the_mask(pipe):
    """The issue's known answer: identity matches + a mask -> the generation row's video values are
    the reference row's inside the mask and its own outside; Q, K and text tokens untouched."""
    layers = self_attention_layers(pipe.transformer, family_class("cogvideox"))
    mask = torch.tensor([True, False, True] * 4)
    warp = WarpField(torch.arange(N), mask)
    before = Observe(layers=block_filter(layers, [1]))
    after = Observe(layers=block_filter(layers, [1]))
    vw = ValueWarp(layers=block_filter(layers, [1]), warp=lambda step: warp)
    run(pipe, [before, vw, after])
    b, a = before.seen["transformer_blocks.1.attn1"], after.seen["transformer_blocks.1.attn1"]
    v_gen, v_ref, new = b["v"][0, :, TEXT:], b["v"][1, :, TEXT:], a["v"][0, :, TEXT:]   # BHSD
    assert torch.equal(new[:, mask], v_ref[:, mask])
    assert torch.equal(new[:, ~mask], v_gen[:, ~mask])
    assert not torch.equal(v_gen[:, mask], v_ref[:, mask])
    assert torch.equal(a["v"][:, :, :TEXT], b["v"][:, :, :TEXT]) and torch.equal(a["v"][1], b["v"][1])
    assert torch.equal(a["q"], b["q"]) and torch.equal(a["k"], b["k"])
    assert vw.count == 1 and vw.tokens == int(mask.sum())


def test_value_warp_gathers_along_the_matches_and_skips_inactive_steps(pipe):
    layers = self_attention_layers(pipe.transformer, family_class("cogvideox"))
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(3))
    before, after = Observe(layers=block_filter(layers, [0])), Observe(layers=block_filter(layers, [0]))
    every = torch.ones(N, dtype=torch.bool)
    run(pipe, [before, ValueWarp(layers=block_filter(layers, [0]), warp=lambda s: WarpField(perm, every)), after])
    b, a = before.seen["transformer_blocks.0.attn1"]["v"], after.seen["transformer_blocks.0.attn1"]["v"]
    assert torch.equal(a[0, :, TEXT:], b[1, :, TEXT:][:, perm])
    untouched = Observe(layers=block_filter(layers, [0]))
    out_inactive = run(pipe, [ValueWarp(layers=block_filter(layers, [0]), warp=lambda s: 1 / 0, active=lambda s: False),
                              untouched])
    assert torch.equal(out_inactive, run(pipe, []))


def test_value_warp_acts_on_both_cfg_pairs(pipe):
    layers = self_attention_layers(pipe.transformer, family_class("cogvideox"))
    before, after = Observe(layers=block_filter(layers, [1]), passes="both"), Observe(
        layers=block_filter(layers, [1]), passes="both")
    vw = ValueWarp(layers=block_filter(layers, [1]), passes="both",
                   warp=lambda s: WarpField(torch.arange(N), torch.ones(N, dtype=torch.bool)))
    run(pipe, [before, vw, after], batch=4, cfg="batched")
    b, a = before.seen["transformer_blocks.1.attn1"]["v"], after.seen["transformer_blocks.1.attn1"]["v"]
    assert torch.equal(a[0, :, TEXT:], b[1, :, TEXT:]) and torch.equal(a[2, :, TEXT:], b[3, :, TEXT:])


def test_rope_free_record_is_the_pre_rope_projection(pipe):
    """Recorded Q/K equal the module's own to_q/to_k (after the QK norm), before RoPE."""
    model = pipe.transformer
    layers = self_attention_layers(model, family_class("cogvideox"))
    kwargs, rope = inputs(pipe)
    store = FeatureStore()
    grabbed = {}
    block = model.transformer_blocks[0]
    handle = block.norm1.register_forward_hook(lambda m, a, out: grabbed.update(video=out[0], text=out[1]))
    try:
        with torch.no_grad(), controlled(model, family_class("cogvideox"), AttentionController(
                [RecordRopeFree(layers=block_filter(layers, [0]), store=store, rope=rope)])):
            model(**kwargs)
    finally:
        handle.remove()
    attn = block.attn1
    with torch.no_grad():
        x = torch.cat([grabbed["text"], grabbed["video"]], 1)
        q = attn.norm_q(attn.to_q(x).view(2, -1, 4, 16).transpose(1, 2))[:, :, TEXT:]
    rec = store.lookup("transformer_blocks.0.attn1", "q", 0)
    assert rec.rope_applied is False and rec.layout == "BHSD" and rec.tensor.shape == (2, 4, N, 16)
    assert torch.allclose(rec.tensor, q, atol=1e-5)


def test_subject_attention_is_the_v_to_t_softmax(pipe):
    layers = self_attention_layers(pipe.transformer, family_class("cogvideox"))
    maps, obs = {}, Observe(layers=block_filter(layers, [0]))

    def sink(step, layer, branch, m):
        maps[(branch, layer)] = m

    for softmax in ("text", "joint"):
        run(pipe, [SubjectAttention(layers=block_filter(layers, [0]), tokens={"gen": [2], "ref": [1, 3]},
                                    sink=sink, softmax=softmax), obs])
        call = obs.seen["transformer_blocks.0.attn1"]
        q, k = call["q"][0], call["k"][0]                                  # generation row, BHSD
        keys = k[:, :TEXT] if softmax == "text" else k
        probs = torch.softmax(q[:, TEXT:] @ keys.transpose(1, 2) / 4.0, -1)  # head dim 16
        assert torch.allclose(maps[("gen", "transformer_blocks.0.attn1")], probs[:, :, 2].mean(0), atol=1e-6)
    with pytest.raises(EvalkitError, match="softmax"):
        SubjectAttention(tokens={}, sink=sink, softmax="cross")


def _attention(q, k, v, allowed):
    logits = (q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5
    return torch.softmax(logits.masked_fill(~allowed, float("-inf")), -1) @ v


def test_kv_replacement_blends_reference_foreground_and_generation_background(pipe):
    """Eq. 10–12 computed by hand: fg video queries attend to text + reference foreground keys,
    bg video queries to text + generation background keys, text queries as usual."""
    layers = self_attention_layers(pipe.transformer, family_class("cogvideox"))
    m_gen = torch.tensor([True, True, False, False] * 3)
    m_ref = torch.tensor([False, True, True, False] * 3)
    before = Observe(layers=block_filter(layers, [1]))
    outs = {}

    @dataclass(kw_only=True)
    class Grab(Behaviour):
        def __call__(self, call, rows):
            outs["chunks"] = call.chunks

    run(pipe, [before, KVReplace(layers=block_filter(layers, [1]), masks=lambda s: (m_gen, m_ref)), Grab(
        layers=block_filter(layers, [1]))])
    b = before.seen["transformer_blocks.1.attn1"]
    q, k, v = (b[w][0] for w in ("q", "k", "v"))
    kr, vr = b["k"][1, :, TEXT:], b["v"][1, :, TEXT:]
    from evalkit.generators.attention.compute import attend
    got = attend(outs["chunks"], "BHSD", None, None)[0].transpose(0, 1)   # [H, S, D] of the generation row
    plain = _attention(q[:, :TEXT], k, v, torch.ones(TEXT, TEXT + N, dtype=torch.bool))
    allowed_ref = torch.cat([torch.ones(TEXT, dtype=torch.bool), m_ref])
    f_ref = _attention(q[:, TEXT:], torch.cat([k[:, :TEXT], kr], 1), torch.cat([v[:, :TEXT], vr], 1),
                       allowed_ref.expand(N, -1))
    allowed_gen = torch.cat([torch.ones(TEXT, dtype=torch.bool), ~m_gen])
    f_gen = _attention(q[:, TEXT:], k, v, allowed_gen.expand(N, -1))
    blended = torch.where(m_gen[None, :, None], f_ref, f_gen)
    assert torch.allclose(got[:, :TEXT], plain, atol=1e-5)
    assert torch.allclose(got[:, TEXT:], blended, atol=1e-5)
    mask = replacement_mask(TEXT, m_gen, m_ref)
    assert mask.shape == (TEXT + N, TEXT + 2 * N) and not mask[:TEXT, TEXT + N:].any()


def test_token_concatenation_appends_reference_video_tokens_to_the_generation_only(pipe):
    layers = self_attention_layers(pipe.transformer, family_class("cogvideox"))
    before = Observe(layers=block_filter(layers, [0]))
    plain = run(pipe, [])
    out = run(pipe, [before, ConcatReference(layers=block_filter(layers, [0]))])
    assert torch.equal(out[1], plain[1]) or torch.allclose(out[1], plain[1], atol=1e-6)  # the reference row
    assert not torch.allclose(out[0], plain[0])
