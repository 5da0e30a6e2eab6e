"""The ViT FLOP count from the architecture equals PyTorch's FLOP counter on the real class
(eager attention: its matmuls are counted), and gives the published figure for DINO ViT-B/16 at VBench's 224×336."""
import pytest

torch = pytest.importorskip("torch")

from evalkit.features.flops import vit_config_flops, vit_forward_flops  # noqa: E402


def test_architecture_count_equals_the_flop_counter_on_a_vit_model():
    from torch.utils.flop_counter import FlopCounterMode

    from evalkit.features.dino import use_dino_v1_interpolation
    from evalkit.features.hf_loading import import_transformers

    t = import_transformers()
    config = t.ViTConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         image_size=224, patch_size=16)
    config._attn_implementation = "eager"  # explicit matmuls: the counter misses SDPA's CPU kernel
    model = t.ViTModel(config, add_pooling_layer=False).eval()
    use_dino_v1_interpolation(model)
    x = torch.randn(3, 3, 96, 160)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(pixel_values=x, interpolate_pos_encoding=True)
    assert counter.get_total_flops() == 3 * vit_config_flops(config, 96, 160)


def test_dino_vitb16_at_224x336():
    # 14×21 patches + CLS = 295 tokens: 53.67 GFLOP, the figure docs/performance.md measured
    flops = vit_forward_flops(768, 3072, 12, 16, 224, 336)
    assert flops / 1e9 == pytest.approx(53.67, abs=0.01)
