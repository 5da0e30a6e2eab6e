"""KV-injection baseline (DiTFlow Sec. 5.1, "Injection"): K and V obtained by processing the
reference video with the DiT replace the target's K and V.

DiTFlow applies it on the first DiT block (Sec. 5.1 "We apply KV injection on the first DiT
block") and states no step range or noise level; we record once, at a low-noise step of the
schedule with the empty prompt (as DiTFlow's reference pass for AMF: t≈0, empty prompt), and
inject on both CFG passes for all steps by default. All of this is configurable.
"""
from __future__ import annotations

from typing import Any, ClassVar

from evalkit.registry import GENERATORS

from .mbq import FeatureInjection


@GENERATORS.register("kv-injection")
class KVInjection(FeatureInjection):
    inject_what: ClassVar[tuple[str, ...]] = ("k", "v")
    defaults: ClassVar[dict[str, Any]] = {
        **FeatureInjection.defaults,
        "injection_fraction": 1.0,
        "blocks": (0,),
        "record": "single",
        "record_step_fraction": 0.98,   # the last step of a 50-step schedule: lowest noise
        "passes": "both",
        "record_prompt": "empty",
    }
