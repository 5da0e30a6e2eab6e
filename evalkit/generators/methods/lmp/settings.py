"""LMP's resolved settings: one frozen object per generator, built at construction from its options.

The step windows are parsed here (``N``: the first N steps; ``"a:b"``: steps a…b−1), the
FBDM threshold checked, ``steps`` taken from the backbone row where the option is left at None:
a bad value is an error when the generator is made, before any case runs.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from evalkit.errors import EvalkitError

from .masks import check_threshold

WINDOWS = ("fbdm_steps", "rmtm_steps", "asm_steps")


def step_window(value: Any, name: str) -> range:
    """``N`` → steps 0…N−1; ``"a:b"`` → steps a…b−1."""
    try:
        if isinstance(value, str) and ":" in value:
            a, b = (int(x) for x in value.split(":"))
            window = range(a, b)
        else:
            window = range(0, int(value))
    except (TypeError, ValueError):
        raise EvalkitError(f"lmp: {name}={value!r} must be a step count N or a range 'a:b'") from None
    if window.start < 0 or window.stop < window.start:
        raise EvalkitError(f"lmp: {name}={value!r} is not a window of steps")
    return window


@dataclass(frozen=True)
class LMPSettings:
    steps: int
    negative_prompt: str
    rmtm_weight: float
    rmtm_reweight: str
    queries: str
    passes: str
    blocks: Any                    # "all", "20-29", "1,3" or a list (parse_blocks)
    fbdm: bool
    fbdm_threshold: Any            # "otsu", "otsu-frame" or a fraction in [0, 1]
    asm: str                       # auto | on | off
    asm_lr: float
    asm_iterations: int
    asm_top_fraction: float
    asm_checkpointing: bool
    fbdm_steps: range
    rmtm_steps: range
    asm_steps: range
    reference: str
    reference_noise: str
    reference_seed: int
    reference_prompt: str
    source_frame_repeat: int

    @classmethod
    def from_options(cls, options: Mapping[str, Any], backbone_row) -> "LMPSettings":
        values = {f.name: options[f.name] for f in fields(cls) if f.name != "steps"}
        values["steps"] = int(backbone_row.steps if options["steps"] is None else options["steps"])
        for name in WINDOWS:
            values[name] = step_window(values[name], name)
        if values["fbdm"]:
            values["fbdm_threshold"] = check_threshold(values["fbdm_threshold"])
        if int(values["source_frame_repeat"]) < 1:
            raise EvalkitError(f"lmp: source_frame_repeat={values['source_frame_repeat']} must be >= 1")
        return cls(**values)

    def windows(self) -> dict[str, range]:
        return {name: getattr(self, name) for name in WINDOWS}
