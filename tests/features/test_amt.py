"""AMT-S (evalkit.features.amt_net / amt): the architecture against the official one, the
checkpoint loading path, VBench's pre/post-processing, and clear errors.

What is verified against the reference (github MCG-NKU/AMT, vendored unchanged by VBench):
- ``data/amt_s_reference.json`` "keys": every parameter name and shape of the reference
  ``networks/AMT-S.py`` ``Model(corr_radius=3, corr_lvls=4, num_flows=3)`` (cfgs/AMT-S.yaml),
  i.e. the keys a strict ``load_state_dict(ckpt['state_dict'])`` of amt-s.pth needs (the
  checkpoint file itself cannot be fetched here);
- "output": the reference network's interpolation, loaded with the deterministic weights of
  ``reference_weights`` on the frames of ``reference_frames``, at 256 sampled positions plus
  per-channel moments. evalkit's network must reproduce them (float32, CPU).
Regenerate with ``python tests/features/test_amt.py PATH_TO_AMT_CHECKOUT``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.errors import InvalidInputError, MissingWeightsError
from evalkit.features.amt import CHECKPOINT, CHECKPOINT_URL, AMTInterpolator, load_amt
from evalkit.features.amt_net import AMT_S, AMTConfig, build_amt
from evalkit.registry import FEATURES

REFERENCE = Path(__file__).parent / "data" / "amt_s_reference.json"
TINY = AMTConfig(channels=(4, 6, 8, 10), skip_channels=2, feature_dims=(8, 8, 16), feature_out=8, hidden_dim=8,
                 flow_dim=4, corr_dim=8, fc_dim=8, corr_radius=1, corr_levels=2, num_flows=2)


def reference_weights(shapes: dict) -> dict:
    """Deterministic weights of moderate scale (numpy PCG64, stable across platforms)."""
    rng = np.random.default_rng(2023)
    out = {}
    for key in sorted(shapes):
        shape = tuple(shapes[key])
        scale = 0.3 / np.sqrt(np.prod(shape[1:])) if len(shape) > 1 else 0.05
        out[key] = torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))
    return out


def reference_frames():
    """Two (1, 3, 128, 160) frames in [0, 1]: a texture and a shifted, dimmed copy."""
    img0 = np.random.default_rng(7).random((1, 3, 128, 160), dtype=np.float32)
    img1 = (np.roll(img0, (3, 5), axis=(2, 3)) * 0.9 + 0.05).astype(np.float32)
    return torch.from_numpy(img0), torch.from_numpy(img1)


def summary(pred) -> dict:
    flat = pred.detach().reshape(-1).numpy()
    idx = np.random.default_rng(11).choice(flat.size, 256, replace=False)
    return {"index": idx.tolist(), "values": flat[idx].astype(float).tolist(),
            "channel_mean": pred.mean((0, 2, 3)).tolist(), "channel_std": pred.std((0, 2, 3)).tolist()}


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    from evalkit.testing.random_amt import install_random_amt

    return install_random_amt(tmp_path_factory.getbasetemp() / "torch_home")


def test_full_size_keys_and_shapes_are_the_official_ones(reference):
    ours = {k: list(v.shape) for k, v in build_amt(AMT_S).state_dict().items()}
    assert list(ours.items()) == list(reference["keys"].items())  # names, shapes and order
    assert len(ours) == 213 and sum(int(np.prod(s)) for s in ours.values()) == 2_990_543  # AMT-S: 2.99 M


def test_full_size_network_reproduces_the_reference_output(reference):
    model = build_amt(AMT_S).eval()
    model.load_state_dict(reference_weights(reference["keys"]))
    img0, img1 = reference_frames()
    with torch.inference_mode():
        ours = summary(model(img0, img1, torch.full((1, 1, 1, 1), 0.5)))
    ref = reference["output"]
    assert ours["index"] == ref["index"]
    np.testing.assert_allclose(ours["values"], ref["values"], rtol=0, atol=2e-5)
    np.testing.assert_allclose(ours["channel_mean"], ref["channel_mean"], rtol=0, atol=2e-6)
    np.testing.assert_allclose(ours["channel_std"], ref["channel_std"], rtol=0, atol=2e-6)
    assert 0.02 < min(ref["channel_std"])  # not a saturated, constant output


def test_tiny_config_builds_the_same_modules():
    torch.manual_seed(0)
    tiny = build_amt(TINY).eval()
    assert list(tiny.state_dict()) == list(build_amt(AMT_S).state_dict())  # one structure, other widths
    x = torch.rand(3, 3, 32, 48)
    y = torch.roll(x, 2, dims=3)
    embt = torch.full((2, 1, 1, 1), 0.5)
    with torch.inference_mode():
        batched = tiny(x[:2], y[:2], embt)
        again = tiny(x[:2], y[:2], embt)
        single = torch.cat([tiny(x[i:i + 1], y[i:i + 1], embt[:1]) for i in range(2)])
        other = tiny(x[2:], y[2:], embt[:1])
    assert batched.shape == (2, 3, 32, 48) and batched.min() >= 0 and batched.max() <= 1
    assert torch.equal(batched, again)                       # deterministic
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)  # pairs do not interact in a batch
    assert not torch.allclose(batched[:1], other)


def test_constant_frames_come_back_up_to_the_learned_residuals():
    """AMT does not guarantee f(I, I) = I: the blended warps are exact for a constant frame
    (border padding), but the RGB residuals and the combination block add learned terms.
    With those two heads zeroed the constant comes back; with random weights it does not."""
    torch.manual_seed(0)
    model = build_amt(TINY).eval()
    frame = torch.full((1, 3, 32, 32), 0.4)
    embt = torch.full((1, 1, 1, 1), 0.5)
    with torch.inference_mode():
        assert (model(frame, frame, embt) - 0.4).abs().max() > 1e-3
        n = TINY.num_flows
        model.decoder1.convblock[2].weight[:, 5 * n:].zero_()  # img_res channels of the last layer
        model.decoder1.convblock[2].bias[5 * n:].zero_()
        model.comb_block[2].weight.zero_()
        model.comb_block[2].bias.zero_()
        torch.testing.assert_close(model(frame, frame, embt), frame, rtol=0, atol=1e-6)


def test_checkpoint_loads_through_the_real_path_and_interpolates_as_vbench(random_checkpoint):
    backend = FEATURES.get("amt-s")()
    saved = torch.load(random_checkpoint, weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in backend.model.state_dict().items())
    assert not backend.model.training and backend.weights_id == f"torch.hub:{CHECKPOINT}"
    # 120x130 pads to 128x144: rows 4 above / 4 below, columns 7 left / 7 right
    frames = np.random.default_rng(0).integers(0, 256, (2, 120, 130, 3), dtype=np.uint8)
    out = backend.interpolate(frames)
    assert out.shape == (1, 120, 130, 3) and out.dtype == np.uint8

    # VBench by hand: img2tensor, InputPadder(16) replicate, model, unpad, tensor2img (truncation)
    def pad(frame):
        return torch.nn.functional.pad(torch.tensor(frame).permute(2, 0, 1)[None] / 255.0, (7, 7, 4, 4),
                                       mode="replicate")

    def vbench_midpoint(a, b):
        with torch.no_grad():
            pred = backend.model(pad(a), pad(b), torch.tensor(0.5).view(1, 1, 1, 1))[..., 4:124, 7:137]
        return (pred * 255.0).squeeze(0).permute(1, 2, 0).numpy().clip(0, 255).astype(np.uint8)

    # equal up to float rounding before VBench's truncation to uint8: the backend runs the model
    # on a batch, the hand path on one pair, and the two convolutions may order sums differently
    diff = np.abs(out[0].astype(int) - vbench_midpoint(frames[0], frames[1]).astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())


def test_missing_checkpoint_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(tmp_path / "weights"))
    start = time.monotonic()
    with pytest.raises(MissingWeightsError) as err:
        AMTInterpolator()
    assert time.monotonic() - start < 5.0
    msg = str(err.value)
    assert CHECKPOINT in msg and CHECKPOINT_URL in msg and "EVALKIT_WEIGHTS_DIR" in msg
    assert str(tmp_path / "weights" / CHECKPOINT) in msg and str(tmp_path / "torch" / "hub" / "checkpoints") in msg


def test_foreign_checkpoint_is_a_clear_error(tmp_path):
    torch.save({"state_dict": {"weight": torch.zeros(3)}}, tmp_path / CHECKPOINT)
    with pytest.raises(MissingWeightsError, match="not an AMT-S state dict"):
        load_amt(tmp_path / CHECKPOINT)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(MissingWeightsError, match="not an AMT checkpoint"):
        load_amt(tmp_path / "junk.pth")


def test_frames_too_small_for_the_correlation_pyramid_are_rejected():
    backend = AMTInterpolator(model=build_amt(TINY))  # never reaches the network
    with pytest.raises(InvalidInputError, match=r"100x200 pads to 112x208"):
        backend.interpolate(np.zeros((3, 100, 200, 3), np.uint8))


if __name__ == "__main__":  # regenerate data/amt_s_reference.json from a checkout of MCG-NKU/AMT
    import importlib
    import sys

    sys.path.insert(0, sys.argv[1])
    ref_model = importlib.import_module("networks.AMT-S").Model(corr_radius=3, corr_lvls=4, num_flows=3).eval()
    keys = {k: list(v.shape) for k, v in ref_model.state_dict().items()}
    ref_model.load_state_dict(reference_weights(keys))
    with torch.no_grad():
        pred = ref_model(*reference_frames(), torch.tensor(0.5).view(1, 1, 1, 1), eval=True)["imgt_pred"]
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps({
        "source": "github MCG-NKU/AMT networks/AMT-S.py Model(corr_radius=3, corr_lvls=4, num_flows=3), "
                  "cfgs/AMT-S.yaml; identical to Vchitect/VBench vbench/third_party/amt",
        "keys": keys, "output": summary(pred)}, indent=0))
