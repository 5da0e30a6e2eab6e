"""RAFT through its real loading path: random-weight torchvision models saved under the
file names torchvision uses, in a temporary TORCH_HOME."""
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalkit.errors import MissingWeightsError  # noqa: E402
from evalkit.features import base  # noqa: E402
from evalkit.features.base import unload_backends  # noqa: E402
from evalkit.synthetic import SyntheticSpec, render  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_backends(monkeypatch):
    unload_backends()
    yield
    unload_backends()


def _save(builder: str, filename: str) -> Path:
    from evalkit.compat import ensure_torchvision
    ensure_torchvision()
    from torchvision.models import optical_flow

    torch.manual_seed(0)
    ckpt = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    torch.save(getattr(optical_flow, builder)(weights=None).state_dict(), ckpt / filename)
    return ckpt / filename


def test_missing_raft_weights_name_file_place_and_source(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(MissingWeightsError) as exc:
        base.load_backend("raft")
    msg = str(exc.value)
    assert "raft_large_C_T_V1-22a6c225.pth" in msg and str(tmp_path / "empty") in msg
    assert "download.pytorch.org" in msg


def test_random_weight_raft_small_flow_shape_and_crop(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _save("raft_small", "raft_small_C_T_V2-01064c6d.pth")
    backend = base.load_backend("raft", model="small", iters=2)
    assert backend.weights_id.endswith("raft_small_C_T_V2-01064c6d.pth")
    video = render(SyntheticSpec("pan", num_frames=3, height=130, width=140)).video  # not multiples of 8
    flow = backend.flow(video)
    assert flow.shape == (2, 130, 140, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()


@pytest.mark.slow
def test_random_weight_raft_large_loads_from_torch_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _save("raft_large", "raft_large_C_T_V1-22a6c225.pth")
    backend = base.load_backend("raft", iters=1)
    flow = backend.flow(render(SyntheticSpec("pan", num_frames=2)).video)
    assert flow.shape == (1, 128, 160, 2)


def test_not_a_raft_state_dict_is_one_clear_error(monkeypatch, tmp_path):
    from evalkit.errors import EvalkitError
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, ckpt / "raft_small_C_T_V2-01064c6d.pth")
    with pytest.raises(EvalkitError, match="raft_small_C_T_V2-01064c6d.pth"):
        base.load_backend("raft", model="small")
