"""Scale past one host: hand the plan's shards to Ray tasks (one GPU each, or CPUs).

No scheduler of our own: each Ray task runs ``run_plan(..., shard=(i, n))`` against the
same store (SQLite WAL with immediate transactions serialises the writers). A task whose
worker dies (killed, out of memory, a lost node) is retried by Ray up to ``max_retries``
times, and the retry resumes from the store: what the dead worker finished is not redone,
so the result equals a single-process run (tests/run/test_dist_ray.py kills one for real).
Running the plan again resumes whatever is still missing.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import MissingDependencyError
from ..registry import load_plugins, plugin_modules
from .plan import Plan
from .runner import RunSummary, run_plan


def run_plan_on_ray(plan: Plan, out: str | Path, *, num_workers: int, gpus_per_worker: float = 1.0,
                    retry_failed: bool = False, address: str | None = None,
                    max_retries: int = 3) -> list[RunSummary]:
    """Run ``plan`` as ``num_workers`` Ray tasks (shards) into the store under ``out``."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("Ray is not installed: pip install 'evalkit[dist]'") from None
    if not ray.is_initialized():
        ray.init(address=address)
    resources = {"num_gpus": gpus_per_worker} if gpus_per_worker > 0 else {"num_cpus": 1}
    plugins = plugin_modules()  # a worker registers the same --plugin modules first

    @ray.remote(max_retries=max_retries, **resources)
    def shard_task(i: int) -> RunSummary:
        load_plugins(plugins)
        device = "cuda" if gpus_per_worker > 0 else "cpu"
        return run_plan(plan, out, device=device, retry_failed=retry_failed, shard=(i, num_workers))

    return ray.get([shard_task.remote(i) for i in range(num_workers)])
