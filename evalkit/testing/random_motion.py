"""Random-weight RAFT and CoTracker3 saved where their real loading paths look ($TORCH_HOME).

torchvision's RAFT checkpoints and CoTracker3's ``scaled_offline.pth`` cannot be downloaded on
the project's machines; tests and the GPU benchmarks install these instead, so the backends'
production loading (file names, hub entry, state-dict checks) runs unchanged. Outputs are
meaningless; shapes, code paths and timings are real.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..features.raft import _MODELS as RAFT_MODELS


def _checkpoints(torch_home: str | Path) -> Path:
    ckpt = Path(torch_home) / "hub" / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    return ckpt


def install_random_raft(torch_home: str | Path, model: str = "large", seed: int = 0) -> Path:
    """torchvision's ``raft_<model>`` with random weights under the file name it loads."""
    import torch

    from ..compat import ensure_torchvision

    ensure_torchvision()
    from torchvision.models import optical_flow

    builder, _, _, filename = RAFT_MODELS[model]
    torch.manual_seed(seed)
    path = _checkpoints(torch_home) / filename
    torch.save(getattr(optical_flow, builder)(weights=None).state_dict(), path)
    return path


def install_random_cotracker3(torch_home: str | Path, code: str | Path, copy_code: bool = True,
                              seed: int = 0) -> Path:
    """CoTracker3 (offline) built from a co-tracker checkout ``code`` with random weights; with
    ``copy_code`` the checkout is also placed where ``torch.hub`` keeps the repository."""
    import torch

    if copy_code:
        hub_dir = Path(torch_home) / "hub" / "facebookresearch_co-tracker_main"
        shutil.copytree(code, hub_dir, dirs_exist_ok=True)
        code = hub_dir
    torch.manual_seed(seed)
    predictor = torch.hub.load(str(code), "cotracker3_offline", source="local", pretrained=False)
    path = _checkpoints(torch_home) / "scaled_offline.pth"
    torch.save(predictor.model.state_dict(), path)
    return path
