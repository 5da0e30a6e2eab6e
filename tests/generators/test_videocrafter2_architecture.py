"""The VideoCrafter2 port against the official architecture: every tensor of the official key list
at full size, and a tiny config built both ways (this port / diffusers' UNet3DConditionModel with
an fps embedding; the OpenCLIP text tower / transformers' CLIPTextModel) computing the same."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import tiny_pipelines as tp  # noqa: E402

from evalkit.networks.videocrafter2 import checkpoint as ckpt  # noqa: E402
from evalkit.networks.videocrafter2.config import OFFICIAL_CONFIG, TURBO_V2_UNET, UNetConfig, unet_config  # noqa: E402
from evalkit.networks.videocrafter2.keys import TEXT, VAE, VIT_H_14_TEXT, text_keys, unet_keys, vae_keys  # noqa: E402
from evalkit.networks.videocrafter2.unet import UNetModel  # noqa: E402


def meta_state(shapes: dict) -> dict:
    return {k: torch.empty(v, device="meta") for k, v in shapes.items()}


@pytest.mark.parametrize("turbo", [False, True])
def test_full_size_unet_has_every_official_tensor_with_its_shape(turbo):
    cfg = unet_config(OFFICIAL_CONFIG, **(TURBO_V2_UNET if turbo else {}))
    with torch.device("meta"):
        model = UNetModel(cfg)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == unet_keys(cfg)
    # the official spelling and layouts: temporal convs (3,1,1), init_attn 8 heads × 64 via 1×1 Conv1d
    assert got["input_blocks.1.0.temopral_conv.conv1.2.weight"] == (320, 320, 3, 1, 1)
    assert got["init_attn.0.proj_in.weight"] == (512, 320, 1)
    assert got["input_blocks.1.1.proj_in.weight"] == (320, 320)            # use_linear
    assert got["input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"] == (320, 1024)
    assert got["output_blocks.2.1.conv.weight"] == (1280, 1280, 3, 3)     # level 3: no attention, upsample
    assert len(got) == (1487 if turbo else 1484)
    n = sum(math.prod(s) for s in got.values())
    assert round(n / 1e6) == (1414 if turbo else 1413)   # parameters (millions)


def test_full_size_autoencoder_and_text_encoder_keys_load_into_the_library_models():
    """The official LDM autoencoder / OpenCLIP key lists, converted by diffusers' own converters,
    fill diffusers' AutoencoderKL and transformers' CLIPTextModel exactly (meta tensors: shapes only)."""
    vae_state = {VAE + k: v for k, v in meta_state(vae_keys(OFFICIAL_CONFIG["model"]["params"]["first_stage_config"]
                                                            ["params"])).items()}
    text_state = {TEXT + k: v for k, v in meta_state(text_keys(
        **{k: VIT_H_14_TEXT[k] for k in ("width", "layers", "vocab_size", "context_length", "embed_dim")})).items()}
    with torch.device("meta"):
        vae = ckpt.build_vae(OFFICIAL_CONFIG, vae_state)      # strict load inside
        text = ckpt.build_text_encoder(text_state, ckpt.text_dims(text_state))
    assert list(vae.config.block_out_channels) == [128, 256, 512, 512] and vae.config.scaling_factor == 0.18215
    c = text.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.max_position_embeddings, c.vocab_size) == \
        (1024, 23, 16, 77, 49408)   # the penultimate layer of ViT-H-14's 24
    assert sum(p.numel() for p in vae.parameters()) == sum(math.prod(s) for s in vae_keys(
        OFFICIAL_CONFIG["model"]["params"]["first_stage_config"]["params"]).values())


def test_a_checkpoint_off_the_key_list_is_one_error_naming_the_tensors():
    cfg = unet_config(OFFICIAL_CONFIG)
    shapes = unet_keys(cfg)
    state = meta_state(shapes)
    del state["out.2.weight"]
    state["input_blocks.1.1.proj_in.weight"] = torch.empty(320, 320, 1, 1, device="meta")
    state["label_emb.0.weight"] = torch.empty(1, device="meta")
    with pytest.raises(Exception, match=r"1 missing: out\.2\.weight; 1 unexpected: label_emb\.0\.weight; "
                                        r"1 wrong shape: input_blocks\.1\.1\.proj_in\.weight \(320, 320, 1, 1\)"):
        ckpt.check_keys(state, shapes, what="model.ckpt", prefixes=("",))


# -- a tiny config built both ways --------------------------------------------------------
BOTH_WAYS = UNetConfig(model_channels=64, channel_mult=(1, 1, 1), attention_resolutions=(1, 2), num_res_blocks=1,
                       num_head_channels=8, context_dim=32)


def lvdm_to_unet3d_prefixes(cfg: UNetConfig) -> list[tuple[str, str]]:
    """Module prefixes: official lvdm name -> diffusers UNet3DConditionModel name."""
    pairs = [("time_embed.0", "time_embedding.linear_1"), ("time_embed.2", "time_embedding.linear_2"),
             ("fps_embedding.0", "fps_embedding.linear_1"), ("fps_embedding.2", "fps_embedding.linear_2"),
             ("input_blocks.0.0", "conv_in"), ("init_attn.0", "transformer_in"), ("out.0", "conv_norm_out"),
             ("out.2", "conv_out")]

    def res(p, block, j, mid=False):
        r, tc = (f"{block}.resnets.{j}", f"{block}.temp_convs.{j}")
        return [(f"{p}.in_layers.0", f"{r}.norm1"), (f"{p}.in_layers.2", f"{r}.conv1"),
                (f"{p}.emb_layers.1", f"{r}.time_emb_proj"), (f"{p}.out_layers.0", f"{r}.norm2"),
                (f"{p}.out_layers.3", f"{r}.conv2"), (f"{p}.skip_connection", f"{r}.conv_shortcut"),
                (f"{p}.temopral_conv", tc)]

    levels, nrb, idx = len(cfg.channel_mult), cfg.num_res_blocks, 1
    for i in range(levels):
        for j in range(nrb):
            pairs += res(f"input_blocks.{idx}.0", f"down_blocks.{i}", j)
            pairs += [(f"input_blocks.{idx}.1", f"down_blocks.{i}.attentions.{j}"),
                      (f"input_blocks.{idx}.2", f"down_blocks.{i}.temp_attentions.{j}")]
            idx += 1
        if i < levels - 1:
            pairs.append((f"input_blocks.{idx}.0.op", f"down_blocks.{i}.downsamplers.0.conv"))
            idx += 1
    pairs += res("middle_block.0", "mid_block", 0) + res("middle_block.3", "mid_block", 1)
    pairs += [("middle_block.1", "mid_block.attentions.0"), ("middle_block.2", "mid_block.temp_attentions.0")]
    idx = 0
    for up in range(levels):
        for j in range(nrb + 1):
            pairs += res(f"output_blocks.{idx}.0", f"up_blocks.{up}", j)
            pairs += [(f"output_blocks.{idx}.1", f"up_blocks.{up}.attentions.{j}"),
                      (f"output_blocks.{idx}.2", f"up_blocks.{up}.temp_attentions.{j}")]
            if up < levels - 1 and j == nrb:
                has_attn = 2 ** (levels - 1 - up) in cfg.attention_resolutions
                pairs.append((f"output_blocks.{idx}.{3 if has_attn else 1}.conv", f"up_blocks.{up}.upsamplers.0.conv"))
            idx += 1
    return sorted(pairs, key=lambda p: -len(p[0]))


def unet3d_with_fps(cfg: UNetConfig):
    """diffusers' UNet3DConditionModel (ModelScope) plus lvdm's frame-rate embedding added to the
    time embedding — the community conversion route, at a size where its heads agree with lvdm's."""
    from diffusers import UNet3DConditionModel
    from diffusers.models.embeddings import TimestepEmbedding, Timesteps

    levels = len(cfg.channel_mult)
    attn = [2 ** i in cfg.attention_resolutions for i in range(levels)]
    model = UNet3DConditionModel(
        in_channels=4, out_channels=4, block_out_channels=[cfg.model_channels * m for m in cfg.channel_mult],
        down_block_types=["CrossAttnDownBlock3D" if a else "DownBlock3D" for a in attn],
        up_block_types=["CrossAttnUpBlock3D" if a else "UpBlock3D" for a in reversed(attn)],
        layers_per_block=cfg.num_res_blocks, cross_attention_dim=cfg.context_dim,
        attention_head_dim=cfg.model_channels // cfg.num_head_channels, norm_num_groups=32)
    model.fps_proj = Timesteps(cfg.model_channels, True, 0)
    model.fps_embedding = TimestepEmbedding(cfg.model_channels, cfg.model_channels * 4)
    model.fps = torch.tensor([28.0])
    model.time_embedding.register_forward_hook(
        lambda mod, args, out: out + model.fps_embedding(model.fps_proj(model.fps.expand(out.shape[0]))))
    return model


def test_tiny_unet_built_both_ways_computes_the_same():
    assert all(2 ** i in BOTH_WAYS.attention_resolutions for i in range(2)) and 4 not in BOTH_WAYS.attention_resolutions
    ours = UNetModel(BOTH_WAYS).eval()
    ours.load_state_dict(tp.random_state(unet_keys(BOTH_WAYS), 3))
    theirs = unet3d_with_fps(BOTH_WAYS).eval()
    prefixes = lvdm_to_unet3d_prefixes(BOTH_WAYS)
    target = theirs.state_dict()
    mapped = {}
    for name, value in ours.state_dict().items():
        src, dst = next((s, d) for s, d in prefixes if name == s or name.startswith(s + "."))
        new = dst + name[len(src):]
        mapped[new] = value.reshape(target[new].shape)   # 1×1 conv <-> linear projections
    assert set(mapped) == set(target)                   # a bijection: every tensor of both models
    theirs.load_state_dict(mapped)
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(2, 4, 3, 8, 8, generator=g), torch.randn(2, 5, 32, generator=g)
    with torch.no_grad():
        a = ours(x, torch.tensor([981, 21]), ctx, fps=28)
        b = theirs(x, torch.tensor([981, 21]), encoder_hidden_states=ctx).sample
    assert a.shape == b.shape == x.shape
    assert torch.allclose(a, b, atol=2e-5, rtol=1e-4), (a - b).abs().max()
    with torch.no_grad():   # the frame-rate condition matters
        assert not torch.allclose(a, ours(x, torch.tensor([981, 21]), ctx, fps=8), atol=1e-4)


def test_a_bfloat16_unet_runs_and_normalises_in_float32():
    """The GPU path (bf16 weights): lvdm's GroupNorm32 normalises in float32, weights included (the
    first H200 run failed here: torch refuses float input with bf16 norm weights)."""
    model = UNetModel(BOTH_WAYS).eval()
    model.load_state_dict(tp.random_state(unet_keys(BOTH_WAYS), 3))
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(2, 4, 3, 8, 8, generator=g), torch.randn(2, 5, 32, generator=g)
    with torch.no_grad():
        ref = model(x, torch.tensor([981, 21]), ctx, fps=28)
        low = model.to(torch.bfloat16)(x.bfloat16(), torch.tensor([981, 21]), ctx.bfloat16(), fps=28)
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 0.05 * ref.abs().max()


def openclip_penultimate(state: dict, tokens, layers: int, heads: int):
    """OpenCLIP's text transformer as FrozenOpenCLIPEmbedder runs it (layer="penultimate"): written
    against the open_clip weight layout with torch's own MultiheadAttention."""
    p = lambda k: state[TEXT + k]  # noqa: E731
    n, width = tokens.shape[1], p("positional_embedding").shape[1]
    x = p("token_embedding.weight")[tokens] + p("positional_embedding")
    mask = torch.full((n, n), float("-inf")).triu(1)
    ln = lambda x, k: torch.nn.functional.layer_norm(x, (width,), p(f"{k}.weight"), p(f"{k}.bias"))  # noqa: E731
    for i in range(layers - 1):
        r = f"transformer.resblocks.{i}"
        mha = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        mha.load_state_dict({"in_proj_weight": p(f"{r}.attn.in_proj_weight"),
                             "in_proj_bias": p(f"{r}.attn.in_proj_bias"),
                             "out_proj.weight": p(f"{r}.attn.out_proj.weight"),
                             "out_proj.bias": p(f"{r}.attn.out_proj.bias")})
        h = ln(x, f"{r}.ln_1")
        x = x + mha(h, h, h, attn_mask=mask, need_weights=False)[0]
        h = torch.nn.functional.linear(ln(x, f"{r}.ln_2"), p(f"{r}.mlp.c_fc.weight"), p(f"{r}.mlp.c_fc.bias"))
        x = x + torch.nn.functional.linear(torch.nn.functional.gelu(h), p(f"{r}.mlp.c_proj.weight"),
                                           p(f"{r}.mlp.c_proj.bias"))
    return ln(x, "ln_final")


def test_text_encoder_is_openclips_penultimate_layer():
    dims = {k: tp.TINY_VC2_TEXT[k] for k in ("width", "layers", "vocab_size", "context_length", "embed_dim")}
    state = tp.random_state({TEXT + k: s for k, s in text_keys(**dims).items()}, 5)
    model = ckpt.build_text_encoder(state, ckpt.text_dims(state, heads=2)).eval()
    tokens = torch.tensor([[518, 10, 20, 30, 519] + [0] * 11])   # <start> … <end>, padded with zeros
    with torch.no_grad():
        ours = model(tokens).last_hidden_state
        ref = openclip_penultimate(state, tokens, layers=3, heads=2)
    assert torch.allclose(ours, ref, atol=1e-5), (ours - ref).abs().max()
