"""Cache keys: the content hash of everything that determines a generation or a metric value."""
from __future__ import annotations

from ..cases import Case
from ..generators.base import Generator
from ..hashing import stable_hash
from ..metrics.base import Metric
from ..registry import FEATURES
from ..weights import weights_revision


def metric_key(generation_key: str, case: Case, metric: Metric, artifact_digest: str = "") -> str:
    """``artifact_digest``: the content of the generation the value is computed on, so a value
    is never reused for a regenerated artifact whose frames differ."""
    backends = []
    for name in metric.feature_backends():
        cls = FEATURES.get(name)
        weights_id = cls.weights_id if isinstance(cls.weights_id, str) else None
        backends.append((name, cls.version, weights_id, weights_revision(weights_id)))
    return stable_hash("metric", generation_key, artifact_digest, case.content_hash(), metric.config, backends)


def generator_identity(gen: Generator) -> dict:
    """What determines a generator's output besides the case and the seed: its config (with
    its version), its code and the revision of the weights it loads."""
    return {"config": gen.config, "code": gen.code_version(),
            "weights": [(w, weights_revision(w)) for w in gen.weights_ids()]}


def generation_key(case: Case, identity: dict, seed: int, input_fingerprint: str = "") -> str:
    """``input_fingerprint``: digest of the files a generator reads (a submission); empty for model
    generators, whose keys it leaves unchanged."""
    parts = ("generation", case.content_hash(), identity, seed)
    return stable_hash(*parts, input_fingerprint) if input_fingerprint else stable_hash(*parts)
