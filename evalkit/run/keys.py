"""Cache keys: the content hash of everything that determines a generation or a metric value."""
from __future__ import annotations

from ..cases import Case
from ..hashing import stable_hash
from ..metrics.base import Metric
from ..registry import FEATURES
from ..weights import weights_revision


def metric_key(generation_key: str, case: Case, metric: Metric) -> str:
    backends = []
    for name in metric.feature_backends():
        cls = FEATURES.get(name)
        weights_id = cls.weights_id if isinstance(cls.weights_id, str) else None
        backends.append((name, cls.version, weights_id, weights_revision(weights_id)))
    return stable_hash("metric", generation_key, case.content_hash(), metric.config, backends)


def generation_key(case: Case, generator_config: dict, seed: int, input_fingerprint: str = "") -> str:
    """``input_fingerprint``: digest of files a generator reads (a submission); empty otherwise,
    which keeps every model generator's key as before."""
    parts = ("generation", case.content_hash(), generator_config, seed)
    return stable_hash(*parts, input_fingerprint) if input_fingerprint else stable_hash(*parts)
