"""Offline-first weight resolution with one clear error.

Order for Hugging Face ids: ``$EVALKIT_WEIGHTS_DIR/<org>--<name>`` or
``$EVALKIT_WEIGHTS_DIR/<org>/<name>`` (plain local folders), then the hub cache
(``HF_HUB_CACHE`` / ``$HF_HOME/hub``), never the network unless ``EVALKIT_ALLOW_DOWNLOAD=1``.
Torch checkpoints: ``$EVALKIT_WEIGHTS_DIR/<file>`` then ``$TORCH_HOME/hub/checkpoints/<file>``.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import MissingWeightsError


def weights_dirs() -> list[Path]:
    raw = os.environ.get("EVALKIT_WEIGHTS_DIR", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home).expanduser() / "hub"


def torch_home() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "torch")
    return Path(home).expanduser()


def download_allowed() -> bool:
    return os.environ.get("EVALKIT_ALLOW_DOWNLOAD") == "1" and os.environ.get("HF_HUB_OFFLINE") != "1"


def resolve_hf(model_id: str, *, what: str = "model") -> Path:
    """Local folder holding ``model_id`` (a hub id or a path), or MissingWeightsError."""
    if Path(model_id).expanduser().is_dir():
        return Path(model_id).expanduser()
    looked: list[str] = []
    org_name = model_id.replace("/", "--")
    for base in weights_dirs():
        for cand in (base / org_name, base / model_id):
            looked.append(str(cand))
            if cand.is_dir():
                return cand
    cache = hf_cache_dir()
    repo = cache / f"models--{org_name}"
    looked.append(str(repo))
    ref = repo / "refs" / "main"
    if ref.is_file():
        snap = repo / "snapshots" / ref.read_text().strip()
        if snap.is_dir():
            return snap
    if download_allowed():
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(model_id))
    raise MissingWeightsError(
        f"{what} weights {model_id!r} not found offline; looked in: {', '.join(looked)}. "
        f"Provide them with `huggingface-cli download {model_id}` on a connected machine "
        f"(then copy {cache}/models--{org_name}), or put a local copy in "
        f"$EVALKIT_WEIGHTS_DIR/{org_name}, or set EVALKIT_ALLOW_DOWNLOAD=1 to fetch it.")


def resolve_checkpoint(filename: str, *, model: str, url: str = "") -> Path:
    """A torch checkpoint file (e.g. CoTracker's) from EVALKIT_WEIGHTS_DIR or TORCH_HOME."""
    looked = [base / filename for base in weights_dirs()] + [torch_home() / "hub" / "checkpoints" / filename]
    for cand in looked:
        if cand.is_file():
            return cand
    raise MissingWeightsError(
        f"{model} checkpoint {filename!r} not found offline; looked in: {', '.join(map(str, looked))}. "
        f"Download it{' from ' + url if url else ''} into {torch_home() / 'hub' / 'checkpoints'} "
        f"or $EVALKIT_WEIGHTS_DIR.")


def weights_revision(weights_id: str | None) -> str:
    """A cheap fingerprint of the weights a backend would load now, for cache keys: the hub
    snapshot revision, or the size and mtime of a local folder's / checkpoint's files.
    Random-weight test models and real weights under one id thus never share cached values.
    ``"missing"`` when nothing is found (the metric then fails with MissingWeightsError)."""
    if not weights_id:
        return "weight-free"
    if weights_id.startswith(("torch.hub:", "torchvision:")):
        filename = weights_id.rsplit(":", 1)[-1]
        for cand in [base / filename for base in weights_dirs()] + [torch_home() / "hub" / "checkpoints" / filename]:
            if cand.is_file():
                st = cand.stat()
                return f"{filename}:{st.st_size}:{st.st_mtime_ns}"
        return "missing"
    try:
        folder = resolve_hf(weights_id) if not download_allowed() else None
    except MissingWeightsError:
        return "missing"
    if folder is None:
        return "download-allowed"
    if folder.parent.name == "snapshots":
        return folder.name  # the 40-hex hub revision
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return ";".join(f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
