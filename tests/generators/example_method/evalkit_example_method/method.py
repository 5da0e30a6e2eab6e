"""``example-scaled-queries``: the generator, its typed settings and the run."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.generators.attention import AttentionController, block_filter, self_attention_layers
from evalkit.generators.diffusers_t2v import COMMON_DEFAULTS, DiffusersT2V, Run
from evalkit.generators.settings import parse_blocks
from evalkit.registry import GENERATORS
from evalkit.timing import stage_timer

from .behaviours import ScaleQueries


@dataclass(frozen=True)
class ScaledQueriesSettings:
    factor: float
    steps: int            # the first ``steps`` denoising steps are scaled
    blocks: tuple[int, ...] | None


@GENERATORS.register("example-scaled-queries")
class ScaledQueries(DiffusersT2V):
    families: ClassVar[tuple[str, ...] | None] = ("wan", "cogvideox")
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, "factor": 1.0, "scaled_steps": 1, "blocks": "all"}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        o = self.options
        self.settings = ScaledQueriesSettings(float(o["factor"]), int(o["scaled_steps"]), parse_blocks(o["blocks"]))

    def run(self, case, seed: int, output_type: str = "np") -> Run:
        s, family = self.settings, self.family
        layers = block_filter(self_attention_layers(family.denoiser, type(family)), s.blocks)
        behaviour = ScaleQueries(factor=s.factor, layers=layers, active=lambda step: step < s.steps, passes="both")
        timings: dict[str, float] = {}
        with stage_timer(self.device, timings, "inference"):
            frames = self.sample(case.target_prompt, seed, num_frames=int(self.opt("num_frames")), fps=self.spec.fps,
                                 controller=AttentionController([behaviour]), output_type=output_type)
        return Run(frames, timings, self.spec.fps, {"scaled_calls": behaviour.count, "seed": int(seed)})
