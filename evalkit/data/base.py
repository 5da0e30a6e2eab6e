"""The dataset contract: a registered class that turns a manifest (+ a data root) into cases.

Loading a dataset never reads pixels: missing files surface when a case's source is
loaded, so in a run they become per-item failures and the rest continues.
``evalkit data check`` validates files up front.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Sequence

from ..cases import Case
from ..configurable import Configurable


class Dataset(Configurable):
    case_kind: ClassVar[str]
    description: ClassVar[str] = ""
    title: ClassVar[str] = ""   # display name of the benchmark (leaderboard site); "" = the registry name

    def __init__(self, root: str | os.PathLike | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.root = Path(root).expanduser() if root else None

    def cases(self) -> Sequence[Case]:
        raise NotImplementedError

    def check(self) -> list[str]:
        """Every problem with the files on disk, one message each (empty when valid)."""
        return []
