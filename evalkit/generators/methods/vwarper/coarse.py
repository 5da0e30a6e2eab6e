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

from .coarse_training import CoarseSettings, ensure_coarse

CURVE_POINTS = 100


def coarse_settings(gen) -> CoarseSettings:
    o = gen.options
    return CoarseSettings(height=int(gen.opt("height")), width=int(gen.opt("width")), rank=int(o["lora_rank"]),
                          alpha=None if o["lora_alpha"] is None else float(o["lora_alpha"]),
                          targets=o["lora_targets"], lr=float(o["lora_lr"]), token_lr=float(o["token_lr"]),
                          steps=int(o["lora_steps"]), batch_size=int(o["lora_batch_size"]),
                          weight_decay=float(o["lora_weight_decay"]), seed=int(o["lora_seed"]),
                          learn_token=bool(o["learn_token"]), token_space=o["token_space"],
                          prompt=str(o["train_prompt"]),
                          gradient_checkpointing=bool(o["gradient_checkpointing"]))


def loss_curve(losses, points: int = CURVE_POINTS) -> list[list[float]]:
    """``[[last step of the bucket, mean loss], ...]`` with at most ``points`` buckets."""
    losses = np.asarray(losses, float)
    if not len(losses):
        return []
    edges = np.linspace(0, len(losses), min(points, len(losses)) + 1).round().astype(int)
    return [[int(b), float(losses[a:b].mean())] for a, b in zip(edges[:-1], edges[1:]) if b > a]


def coarse_stage(gen, case: PersonalizationCase, stack: ExitStack) -> tuple[Any, dict[str, Any]]:
    """(learned subject embedding or None, what to record); the LoRA stays applied until ``stack``
    closes."""
    source = gen.options["lora"]
    if source == "none":
        return None, {"source": "none"}
    if source == "train":
        res = ensure_coarse(gen.family, case, coarse_settings(gen), gen.base_weights(),
                            checkpoint_every=int(gen.options["lora_checkpoint_every"]))
        meta, folder = res.meta, res.artifact.folder
        info = {"source": "trained" if res.trained_now else "cache", "key": meta.get("key"), "path": str(folder),
                "steps": meta["steps"], "train_seconds": meta["seconds"], "resumed_from": meta["resumed_from"],
                "eval_loss_before": meta["eval_loss_before"], "eval_loss_after": meta["eval_loss_after"],
                "loss_curve": loss_curve(meta["losses"]), "loss_plot": str(folder / CoarseArtifact.PLOT)}
        path: Path = folder
    else:
        path = Path(str(source)).expanduser()
        if not path.exists():
            raise EvalkitError(f"{gen.registry_name}: LoRA {source} not found")
        info = {"source": "given", "path": str(path)}
    stack.enter_context(applied_lora(gen.family.denoiser, path))
    embedding = subject_embedding(gen, path)
    info["token_embedding"] = embedding is not None
    return embedding, info


def subject_embedding(gen, path: Path):
    """The learned token embedding stored beside the LoRA (``subject_token.safetensors``), or None."""
    from safetensors.torch import load_file

    f = path / CoarseArtifact.TOKEN if path.is_dir() else None
    if f is None or not f.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(f), framework="pt") as sf:
        space = (sf.metadata() or {}).get("space", "input")
    if space != gen.options["token_space"]:
        raise EvalkitError(f"{f}: a subject embedding of T5's {space} space, but token_space="
                           f"{gen.options['token_space']!r}")
    emb = load_file(str(f)).get("embedding")
    width = gen.pipe.text_encoder.get_input_embeddings().embedding_dim
    if emb is None or emb.shape != (width,):
        raise EvalkitError(f"{f}: expected an 'embedding' of shape ({width},) for this text encoder, "
                           f"got {None if emb is None else tuple(emb.shape)}")
    return emb.to(gen.device)
