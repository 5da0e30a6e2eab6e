"""A feature context for tests: every backend a metric asks for is one given object (a tracker or
embedder with known outputs), so a metric's arithmetic is checked on exact inputs."""
from __future__ import annotations

from typing import Any

from ..features.base import FeatureBackend, FeatureContext


class FixedBackendContext(FeatureContext):
    def __init__(self, backend: Any) -> None:
        super().__init__()
        self.fixed = backend

    def backend(self, name: str, dtype: str | None = None, **options: Any) -> FeatureBackend:
        return self.fixed
