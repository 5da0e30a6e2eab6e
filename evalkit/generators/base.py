"""The generator contract: ``generate(case, seed) -> Generation``.

Each generator is one file in ``evalkit/generators`` that registers itself with
``@GENERATORS.register("name")`` and declares the case kinds it accepts.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

from ..cases import Case, Generation
from ..configurable import Configurable
from ..errors import EvalkitError


class Generator(Configurable):
    case_kinds: ClassVar[tuple[str, ...]]
    #: True for generators that need no model (reference generators): zero inference cost
    weight_free: ClassVar[bool] = False

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(**options)
        self.device = device

    def load(self) -> None:
        """Load weights and models. The runner calls it once per process, before the first item,
        and times it as its own stage (``load``), never part of a generation's timings."""

    def input_fingerprint(self, case: Case, seed: int) -> str:
        """Content digest of whatever outside the config determines this item (files a
        submission reads); it enters the item's cache key. Empty for model generators."""
        return ""

    def preflight(self, cases: Sequence[Case], seeds: Sequence[int]) -> list[str]:
        """Every problem with this generator's inputs, listed before the run starts."""
        return []

    def provenance(self) -> dict[str, Any]:
        """What the run's provenance records about this generator (e.g. submission metadata)."""
        return {}

    def generate(self, case: Case, seed: int) -> Generation:
        raise NotImplementedError

    def __call__(self, case: Case, seed: int) -> Generation:
        if case.kind not in self.case_kinds:
            raise EvalkitError(f"generator {self.registry_name} does not accept {case.kind} cases")
        return self.generate(case, seed)
