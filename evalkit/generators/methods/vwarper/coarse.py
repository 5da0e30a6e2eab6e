"""V-Warper's coarse stage inside a generation: train (or reuse) the subject's LoRA and token, or
load a given LoRA, and keep it applied for the rest of the generation.

What the generation records (``extras["lora"]``): where the LoRA came from (``trained`` now,
``cache`` hit, ``given`` path, or ``none``), the artifact's key and folder, the training's steps,
seconds, evaluation loss before/after and its loss curve (at most 100 points, bucket means; the
full per-step curve and ``loss.png`` are in the artifact folder).
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.cases import PersonalizationCase
from evalkit.errors import EvalkitError
from evalkit.generators.training.artifact import CoarseArtifact
from evalkit.generators.training.lora import applied_lora

from .coarse_training import ensure_coarse
from .settings import VWarperSettings

CURVE_POINTS = 100


def loss_curve(losses, points: int = CURVE_POINTS) -> list[list[float]]:
    """``[[last step of the bucket, mean loss], ...]`` with at most ``points`` buckets."""
    losses = np.asarray(losses, float)
    if not len(losses):
        return []
    edges = np.linspace(0, len(losses), min(points, len(losses)) + 1).round().astype(int)
    return [[int(b), float(losses[a:b].mean())] for a, b in zip(edges[:-1], edges[1:]) if b > a]


def coarse_stage(family, settings: VWarperSettings, case: PersonalizationCase, stack: ExitStack,
                 base_weights: str) -> tuple[Any, dict[str, Any]]:
    """(learned subject embedding or None, what to record); the LoRA stays applied until ``stack``
    closes. ``base_weights`` identifies the base weights for the trained artifact's key."""
    source = settings.lora
    if source == "none":
        return None, {"source": "none"}
    if source == "train":
        res = ensure_coarse(family, case, settings.coarse, base_weights, checkpoint_every=settings.checkpoint_every)
        meta, folder = res.meta, res.artifact.folder
        info = {"source": "trained" if res.trained_now else "cache", "key": meta.get("key"), "path": str(folder),
                "steps": meta["steps"], "train_seconds": meta["seconds"], "resumed_from": meta["resumed_from"],
                "eval_loss_before": meta["eval_loss_before"], "eval_loss_after": meta["eval_loss_after"],
                "loss_curve": loss_curve(meta["losses"]), "loss_plot": str(folder / CoarseArtifact.PLOT)}
        path: Path = folder
    else:
        path = Path(str(source)).expanduser()
        if not path.exists():
            raise EvalkitError(f"{settings.name}: LoRA {source} not found")
        info = {"source": "given", "path": str(path)}
    stack.enter_context(applied_lora(family.denoiser, path))
    embedding = subject_embedding(family, settings.token_space, path)
    info["token_embedding"] = embedding is not None
    return embedding, info


def subject_embedding(family, token_space: str, path: Path):
    """The learned token embedding stored beside the LoRA (``subject_token.safetensors``), or None."""
    from safetensors.torch import load_file

    f = path / CoarseArtifact.TOKEN if path.is_dir() else None
    if f is None or not f.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(f), framework="pt") as sf:
        space = (sf.metadata() or {}).get("space", "input")
    if space != token_space:
        raise EvalkitError(f"{f}: a subject embedding of T5's {space} space, but token_space={token_space!r}")
    emb = load_file(str(f)).get("embedding")
    _, encoder = family.text_components()
    width = encoder.get_input_embeddings().embedding_dim
    if emb is None or emb.shape != (width,):
        raise EvalkitError(f"{f}: expected an 'embedding' of shape ({width},) for this text encoder, "
                           f"got {None if emb is None else tuple(emb.shape)}")
    return emb.to(family.device)
