"""Test-wide settings: never touch the network, never write into the repository."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["EVALKIT_ALLOW_DOWNLOAD"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # importlib import mode: make tests/plugins_for_tests importable
SHARED = Path(os.environ.get("EVALKIT_SHARED", REPO.parent / "shared")).resolve()
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real DAVIS, DreamBooth, prompts, weights); tests skip where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """Empty model caches per test session: nothing is read from or written to ~/.cache."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("HF_HOME", str(base / "hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(base / "torch_home"))
    monkeypatch.delenv("EVALKIT_WEIGHTS_DIR", raising=False)


def _ml_extra_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("torch", "torchvision", "transformers", "open_clip"))


def pytest_collection_modifyitems(config, items):
    """On a core install (``tox -e core``: no torch), tests marked ``ml`` skip with the reason."""
    if _ml_extra_installed():
        return
    skip = pytest.mark.skip(reason="needs the ml extra: pip install -e '.[ml]' -c constraints.txt")
    for item in items:
        if "ml" in item.keywords:
            item.add_marker(skip)
