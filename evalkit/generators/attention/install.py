"""Installing control processors on a model's self-attention layers, and choosing layers."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Iterable

from evalkit.errors import EvalkitError

from .controller import AttentionController

if TYPE_CHECKING:
    from ..families.base import ModelFamily

_SUFFIX = ".processor"


def self_attention_layers(model, family: "type[ModelFamily]") -> list[str]:
    """Names of the family's controllable self-attention layers of ``model``, in model order
    (block index = list index)."""
    pattern = re.compile(family.self_attention)
    names = [k[: -len(_SUFFIX)] for k in model.attn_processors]
    return [n for n in names if pattern.match(n)]


def block_filter(layer_names: list[str], blocks: Iterable[int] | None) -> Callable[[str], bool]:
    """Predicate selecting layers by their index in ``layer_names`` (None: all)."""
    if blocks is None:
        chosen = set(layer_names)
    else:
        wanted = set(int(b) for b in blocks)
        bad = [b for b in wanted if b >= len(layer_names) or b < 0]
        if bad:
            raise EvalkitError(f"attention control: block(s) {sorted(bad)} out of range "
                               f"(the model has {len(layer_names)} controllable layers)")
        chosen = {n for i, n in enumerate(layer_names) if i in wanted}
    return chosen.__contains__


class controlled:
    """Context manager: the family's control processor on each self-attention layer of ``model``.

    ``with controlled(transformer, WanFamily, ctrl, cfg="sequential"): pipe(...)`` — every other
    processor is left alone; on exit (also on error) the original processor objects are restored
    and the call-counting hook removed. ``cfg`` is the CFG convention of the calls to come.
    """

    def __init__(self, model, family: "type[ModelFamily]", controller: AttentionController, *,
                 cfg: str = "none") -> None:
        self.model, self.family, self.controller, self.cfg = model, family, controller, cfg

    def __enter__(self) -> AttentionController:
        self._original = dict(self.model.attn_processors)
        targets = set(self_attention_layers(self.model, self.family))
        procs = {}
        for key, proc in self._original.items():
            layer = key[: -len(_SUFFIX)]
            # keep the attention backend chosen on the original (diffusers') processor
            procs[key] = proc if layer not in targets else self.family.processor(
                self.controller, layer, backend=getattr(proc, "_attention_backend", None),
                parallel_config=getattr(proc, "_parallel_config", None))
        self.model.set_attn_processor(procs)
        self._hook = self.model.register_forward_pre_hook(self._count_call)
        self.controller.start(cfg=self.cfg)
        return self.controller

    def _count_call(self, module, args) -> None:
        self.controller.on_denoiser_call()

    def __exit__(self, *exc) -> None:
        self._hook.remove()
        self.model.set_attn_processor(self._original)
