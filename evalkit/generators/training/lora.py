"""LoRA on the self-attention projections of every MM-DiT block, with peft (V-Warper App. A).

``targets="kvo"`` (the paper's choice, Sec. 4.1 / Fig. 3: the query projection carries much of
the temporal structure and stays frozen) adapts ``to_k``, ``to_v`` and ``to_out.0``; ``"qkvo"``
adds ``to_q`` (Fig. 3's comparison). Trained LoRA weights are kept in float32; the saved file is
diffusers' ``pytorch_lora_weights.safetensors`` with peft's config as metadata, so a user's
CogVideoX LoRA in that format loads the same way.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from evalkit.errors import EvalkitError

TARGETS = {"kvo": ("to_k", "to_v", "to_out.0"), "qkvo": ("to_q", "to_k", "to_v", "to_out.0")}
ADAPTER = "vwarper"
WEIGHT_NAME = "pytorch_lora_weights.safetensors"


def _peft():
    from evalkit.compat import ensure_torchvision

    ensure_torchvision()  # peft imports transformers, which imports torchvision
    try:
        import peft
    except ImportError as exc:  # pragma: no cover - environment
        from evalkit.errors import MissingDependencyError

        raise MissingDependencyError(f"V-Warper's coarse stage needs peft (install evalkit[gpu]): {exc}") from None
    return peft


def lora_config(layer_pattern: str, rank: int, alpha: float, targets: str):
    """peft ``LoraConfig`` for the ``targets`` projections of the layers matching ``layer_pattern``."""
    if targets not in TARGETS:
        raise EvalkitError(f"LoRA targets {targets!r} not in {tuple(TARGETS)}")
    layers = layer_pattern.lstrip("^").rstrip("$")
    regex = rf"{layers}\.({'|'.join(re.escape(n) for n in TARGETS[targets])})"
    return _peft().LoraConfig(r=int(rank), lora_alpha=float(alpha), target_modules=regex, lora_dropout=0.0,
                              init_lora_weights=True)


def add_trainable_lora(model, config) -> list:
    """Attach a fresh adapter to ``model``; returns its parameters (float32, trainable)."""
    model.add_adapter(config, adapter_name=ADAPTER)
    params = [p for name, p in model.named_parameters() if "lora_" in name]
    if not params:
        raise EvalkitError(f"LoRA: no layer of {type(model).__name__} matched {config.target_modules!r}")
    for p in params:
        p.data = p.data.float()
        p.requires_grad_(True)
    return params


def lora_state(model) -> dict:
    """The adapter's weights (CPU copies), as peft names them."""
    from peft.utils import get_peft_model_state_dict

    return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(model, adapter_name=ADAPTER).items()}


def load_lora_state(model, state: dict) -> None:
    from peft.utils import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, state, adapter_name=ADAPTER)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise EvalkitError(f"LoRA checkpoint does not fit the model: unexpected keys {unexpected[:3]}")


def save_lora(model, path: str | Path) -> None:
    """The adapter's weights as a safetensors file with peft's config in its metadata (the
    layout of diffusers' ``save_lora_adapter``, so ``load_lora_adapter`` restores rank and alpha)."""
    import json

    from diffusers.loaders.lora_base import LORA_ADAPTER_METADATA_KEY
    from safetensors.torch import save_file

    config = {k: sorted(v) if isinstance(v, set) else v for k, v in model.peft_config[ADAPTER].to_dict().items()}
    state = {k: v.contiguous() for k, v in lora_state(model).items()}
    save_file(state, str(path), metadata={"format": "pt",
                                          LORA_ADAPTER_METADATA_KEY: json.dumps(config, indent=2, sort_keys=True)})


def _weights_file(source: str | Path) -> Path:
    p = Path(source).expanduser()
    f = p / WEIGHT_NAME if p.is_dir() else p
    if not f.is_file():
        raise EvalkitError(f"LoRA {source}: no {WEIGHT_NAME} (or .safetensors file) there")
    return f


@contextmanager
def applied_lora(model, source: str | Path):
    """``model`` with the LoRA of ``source`` (a folder holding ``pytorch_lora_weights.safetensors``
    or a ``.safetensors`` file, diffusers or peft key names) for the duration of the block; the
    original layers are restored afterwards, also on error (the pipeline is shared)."""
    from safetensors import safe_open

    _peft()
    f = _weights_file(source)
    with safe_open(str(f), framework="pt") as sf:
        keys = list(sf.keys())
    prefix = "transformer" if any(k.startswith("transformer.") for k in keys) else None
    # peft marks the base weights untrainable when it injects an adapter and unloading does not
    # undo it: restore the flags, so the shared pipeline leaves the block as it entered
    flags = [(prm, prm.requires_grad) for prm in model.parameters()]
    try:
        model.load_lora_adapter(str(f.parent), weight_name=f.name, prefix=prefix, adapter_name=ADAPTER,
                                local_files_only=True)
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        model.unload_lora()
        _restore(flags)
        raise EvalkitError(f"LoRA {f}: cannot load into {type(model).__name__} ({exc})") from None
    try:
        yield
    finally:
        model.unload_lora()
        _restore(flags)


def _restore(flags) -> None:
    for prm, flag in flags:
        prm.requires_grad_(flag)
