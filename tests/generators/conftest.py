"""Tiny diffusers pipelines saved once per session (for the generators' real loading path)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib puts no test folder on sys.path: make tiny_pipelines importable
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """Lazily saved tiny pipelines: ``tiny_dirs("wan")`` -> local folder."""
    import tiny_pipelines as tp

    base = tmp_path_factory.mktemp("tiny_pipelines")
    made: dict[str, str] = {}
    builders = {"wan": tp.tiny_wan, "cogvideox": tp.tiny_cogvideox, "unet": tp.tiny_unet_t2v,
                "ltx": tp.tiny_ltx}

    def get(family: str) -> str:
        if family not in made:
            folder = base / family
            builders[family]().save_pretrained(str(folder))
            made[family] = str(folder)
        return made[family]

    return get


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run fastest on one thread; on a loaded 2-core CI box, intra-op threads
    contend (measured here: 16 s → 7 s for one tiny Wan run). Restored after each test."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
