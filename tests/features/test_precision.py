"""Backend precision: float32 pins PyTorch's reference arithmetic, tf32/bfloat16 are explicit,
and the dtype reaches the model (weights, autocast) of every model backend."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.features import base  # noqa: E402
from evalkit.features.base import unload_backends  # noqa: E402
from evalkit.features.precision import compute_scope, weights_dtype  # noqa: E402
from evalkit.registry import FEATURES  # noqa: E402


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    return install_random_models(tmp_path_factory.getbasetemp() / "hf_home",
                                 ["facebook/dino-vitb16", "openai/clip-vit-base-patch32"])


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    unload_backends()
    yield
    unload_backends()


def test_float32_scope_pins_full_precision_matmuls_even_when_the_process_enabled_tf32():
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # e.g. a generator turned TF32 on for the process
    try:
        with compute_scope("float32", "cpu"):
            assert torch.get_float32_matmul_precision() == "highest"
            assert torch.backends.cudnn.allow_tf32  # PyTorch's default, what the references ran with
        with compute_scope("tf32", "cpu"):
            assert torch.get_float32_matmul_precision() == "high"
        assert torch.get_float32_matmul_precision() == "high"  # restored
    finally:
        torch.set_float32_matmul_precision(before)


def test_autocast_only_for_low_precision_and_only_when_asked():
    a = torch.randn(4, 4)
    with compute_scope("bfloat16", "cpu", autocast=True):
        assert (a @ a).dtype == torch.bfloat16
    with compute_scope("bfloat16", "cpu"):
        assert (a @ a).dtype == torch.float32
    with compute_scope("tf32", "cpu", autocast=True):
        assert (a @ a).dtype == torch.float32
    assert weights_dtype("tf32") == torch.float32 and weights_dtype("bfloat16") == torch.bfloat16


def test_unknown_dtype_is_a_clear_error(tiny_models):
    with pytest.raises(EvalkitError, match="dtype 'float8' not in"):
        FEATURES.get("dino-vitb16")(dtype="float8")


def test_bfloat16_dino_holds_bf16_weights_and_stays_close_to_float32(tiny_models):
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 56, 3), dtype=np.uint8)
    f32 = base.load_backend("dino-vitb16")
    b16 = base.load_backend("dino-vitb16", dtype="bfloat16")
    assert next(b16.model.parameters()).dtype == torch.bfloat16
    assert f32.identity != b16.identity  # the dtype enters every feature key
    a, b = f32.embed(frames), b16.embed(frames)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert 0 < np.abs(a - b).max() < 0.1


def test_tf32_runs_float32_weights(tiny_models):
    clip = base.load_backend("clip-vit-b32", dtype="tf32", preprocess="vbench-clip")
    assert next(clip.model.parameters()).dtype == torch.float32
    frames = np.random.default_rng(1).integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    ref = base.load_backend("clip-vit-b32", preprocess="vbench-clip").embed(frames)
    np.testing.assert_allclose(clip.embed(frames), ref, atol=1e-6)  # no TF32 on a CPU


@pytest.mark.slow  # bf16 autocast on a CPU: ~15 s
def test_raft_bfloat16_runs_under_autocast(monkeypatch, tmp_path):
    from evalkit.synthetic import SyntheticSpec, render
    from evalkit.testing.random_motion import install_random_raft

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    install_random_raft(tmp_path, "small")
    video = render(SyntheticSpec("pan", num_frames=2, height=128, width=128)).video
    f32 = base.load_backend("raft", model="small", iters=1).flow(video)
    seen = []
    b16 = base.load_backend("raft", "cpu", "bfloat16", model="small", iters=1)
    hook = b16.model.feature_encoder.convnormrelu[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    flow = b16.flow(video)
    hook.remove()
    assert seen == [torch.bfloat16] and flow.dtype == np.float32
    assert np.isfinite(flow).all() and not np.array_equal(flow, f32)
