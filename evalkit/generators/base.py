"""The generator contract: ``generate(case, seed) -> Generation``.

Each generator is one file in ``evalkit/generators`` that registers itself with
``@GENERATORS.register("name")`` and declares the case kinds it accepts.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
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

    def weights_ids(self) -> tuple[str, ...]:
        """Hub ids (or local folders) of the weights this configuration loads; their revision on
        disk enters the generation cache key (weight-free generators load none)."""
        return ()

    @classmethod
    def code_version(cls) -> str:
        """The declared ``version`` plus a digest of the source files of this class and its bases:
        it enters the generation cache key, so an edit of the generator's code never reuses
        generations made by the old code (bump ``version`` anyway when the numbers change)."""
        return f"{cls.version}:{_source_digest(cls)}"

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

    def preflight_warnings(self, cases: Sequence[Case], seeds: Sequence[int]) -> list[str]:
        """Protocol warnings known before the run (``evalkit.protocol``): the items are scored."""
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


@functools.lru_cache(maxsize=None)
def _source_digest(cls: type) -> str:
    h = hashlib.sha256()
    files = dict.fromkeys(f for klass in cls.__mro__ if klass is not object and (f := _source_file(klass)))
    for f in files:
        with open(f, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


def _source_file(klass: type) -> str | None:
    try:
        return inspect.getsourcefile(klass)
    except (TypeError, OSError):   # built-in or generated classes: their version stands alone
        return None
