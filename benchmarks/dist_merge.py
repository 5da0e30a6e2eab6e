"""Many small items through shard stores and merges: what the merge costs and what the Ray
driver sustains (docs/performance.md, "Shard stores and merge").

1. single: the plan in one process (``run_plan``), items/s;
2. shards + merge: the plan as ``--shards`` shard stores (run one after another in this
   process, as a Slurm array's tasks would each run one), then ``merge_stores`` of them all: the
   merge's seconds and rows/s;
3. ray: ``run_plan_on_ray`` on a local Ray of ``--workers`` CPUs, ``--tasks-per-worker`` tasks
   each: items/s end to end, and the driver's seconds merging the task stores.
Every merged store is checked equal (values, artifact bytes, status) to the single run.

    PYTHONPATH=. python benchmarks/dist_merge.py --cases 100 --workers 2 --out /tmp/dist_merge.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from evalkit.run.merge import merge_stores
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.shard_stores import shard_store_dir
from evalkit.run.store import ResultsStore

GENERATORS = ("copy", "static", "reverse", "shuffle")


def plan(cases: int) -> Plan:
    """5 motions × ``cases`` seeds × 4 reference generators, tiny clips, one CPU metric."""
    dataset = ComponentSpec("synthetic", {"seeds": tuple(range(cases)), "num_frames": 4, "height": 32, "width": 32})
    return Plan(dataset, tuple(ComponentSpec(g) for g in GENERATORS), (ComponentSpec("temporal-flicker"),))


def fingerprint(out: Path, run_id: str) -> tuple:
    store = ResultsStore(out, readonly=True)
    try:
        df = store.results(run_id)
        status = store.run(run_id)["status"]
    finally:
        store.close()
    files = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((out / "artifacts").rglob("*.np*"))}
    cols = ["case_id", "generator", "metric", "generation_key", "metric_key", "status", "value"]
    return df[cols].to_json(), files, status


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100, help="seeds per motion (items = 5 × cases × 4)")
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks-per-worker", type=int, default=8)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    p = plan(args.cases)
    base = Path(tempfile.mkdtemp(prefix="dist-merge-"))
    res: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
                 "cases": 5 * args.cases, "generators": len(GENERATORS)}

    t = time.perf_counter()
    single = run_plan(p, base / "single")
    res["items"] = items = single.generated
    res["single"] = {"seconds": round(time.perf_counter() - t, 2)}
    res["single"]["items_per_s"] = round(items / res["single"]["seconds"], 1)
    reference = fingerprint(base / "single", single.run_id)

    t = time.perf_counter()
    folders = [shard_store_dir(base / "sharded", (i, args.shards)) for i in range(args.shards)]
    for i, folder in enumerate(folders):
        run_plan(p, folder, shard=(i, args.shards))
    shard_s = time.perf_counter() - t
    report = merge_stores(base / "sharded", folders)
    res["shards"] = {"count": args.shards, "seconds_running_all_shards": round(shard_s, 2),
                     "merge_seconds": round(report.seconds, 2), "rows": report.rows,
                     "artifacts": report.artifacts, "source_files": report.sources,
                     "merged_rows_per_s": round(report.rows / report.seconds, 1),
                     "equal_to_single": fingerprint(base / "sharded", single.run_id) == reference}

    if not args.skip_ray:
        import ray

        from evalkit.run.dist import run_plan_on_ray

        t = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - t
        t = time.perf_counter()
        summary = run_plan_on_ray(p, base / "ray", num_workers=args.workers, gpus_per_worker=0,
                                  tasks_per_worker=args.tasks_per_worker)
        ray_s = time.perf_counter() - t
        ray.shutdown()
        res["ray"] = {"workers": args.workers, "tasks": args.workers * args.tasks_per_worker,
                      "init_seconds": round(init_s, 2), "seconds": round(ray_s, 2),
                      "items_per_s": round(items / ray_s, 1), "driver_merge_seconds": round(summary.merge_seconds, 2),
                      "status": summary.status,
                      "equal_to_single": fingerprint(base / "ray", single.run_id) == reference}
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
