"""A random-weight AMT-S checkpoint in the official file format, for tests and GPU timings.

``install_random_amt`` saves ``{"state_dict": ...}`` of the full-size AMT-S architecture
(``evalkit.features.amt_net.AMT_S``, torch's default initialisation) as
``$TORCH_HOME/hub/checkpoints/amt-s.pth``, so evalkit's real resolution and loading path
(``evalkit.features.amt``) runs unchanged. Its interpolations are meaningless.
"""
from __future__ import annotations

from pathlib import Path

from ..features.amt import CHECKPOINT
from ..features.amt_net import AMT_S, build_amt


def install_random_amt(torch_home: str | Path, seed: int = 0) -> Path:
    """Write the checkpoint once (idempotent); returns its path."""
    import torch

    path = Path(torch_home) / "hub" / "checkpoints" / CHECKPOINT
    if not path.is_file():
        torch.manual_seed(seed)
        state = build_amt(AMT_S).state_dict()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"state_dict": state}, tmp)
        tmp.replace(path)
    return path
