"""Scale past one process: hand the plan's shards to Ray tasks with one GPU each.

No scheduler of our own: each Ray task runs ``run_plan(..., shard=(i, n))`` against the
same store (SQLite WAL with immediate transactions serialises the writers), so a killed
task is resumed by simply running the plan again.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import MissingDependencyError
from .plan import Plan
from .runner import RunSummary, run_plan


def run_plan_on_ray(plan: Plan, out: str | Path, *, num_workers: int, gpus_per_worker: float = 1.0,
                    retry_failed: bool = False, address: str | None = None) -> list[RunSummary]:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("Ray is not installed: pip install 'evalkit[dist]'") from None
    if not ray.is_initialized():
        ray.init(address=address)

    @ray.remote(num_gpus=gpus_per_worker)
    def shard_task(i: int) -> RunSummary:
        device = "cuda" if gpus_per_worker > 0 else "cpu"
        return run_plan(plan, out, device=device, retry_failed=retry_failed, shard=(i, num_workers))

    return ray.get([shard_task.remote(i) for i in range(num_workers)])
