"""End-to-end throughput of the standard motion-transfer suite through ``evalkit run``.

The suite: ``synthetic`` at 480×720×49 (5 motions × 30 seeds = 150 videos), one generator
(``--generator``, default ``reverse``: a generated video that differs from its source, so no
feature is shared by accident), the standard metric set (Motion Fidelity on CoTracker3, Dynamic
Degree on RAFT, identity leakage, subject/background consistency, CLIP text, CLIP temporal
consistency, aesthetic quality, temporal flicker), the model metrics in ``--dtype`` (an explicit
metric option: it shows in the result columns). Random weights of the real, full-size
architectures are installed into temporary caches and loaded through evalkit's real loading
paths: timings are real, values are not meaningful.

Measured in one invocation, each run on a fresh ``--out``:

- ``evalkit run --devices D`` for each device set given by ``--device-sets`` (e.g. ``cuda:0``
  and ``cuda:0,cuda:1``: one worker process per GPU, one store; ``--launch shards``: one
  ``--shard i/n`` process per GPU instead, split by item index): wall time and each GPU's busy
  fraction, from ``nvidia-smi``'s utilization (the share of time in which a kernel ran, sampled
  every 100 ms), so wall / kernel time = 1 / busy fraction;
- a naive VBench-style loop on ``--naive-cases`` cases: one metric at a time, one video at a
  time, float32, nothing shared (a fresh feature context per metric and case, the generation
  and source made again each time), each metric's models loaded once before its cases are
  timed; speed-up = (model loads + naive seconds per case × cases) / evalkit wall.

One H200 (about 6 minutes):
    python benchmarks/suite_throughput.py --device-sets cuda:0 \\
        --cotracker-code .carry/motion/co-tracker --bpe .carry/identity/bpe_simple_vocab_16e6.txt.gz \\
        --head .carry/identity/sa_0_4_vit_l_14_linear.pth --out $OUT/suite.json
Two H200s against one (nvidia-h200-x2; about 8 minutes): --device-sets cuda:0 cuda:0,cuda:1 --naive-cases 0
    python benchmarks/suite_throughput.py --tiny      # CPU smoke test (tiny models, KLT/DIS, 2 CPU workers)
Where the device thread's wall time goes (its stack sampled, in place on one device; 30 videos):
    python benchmarks/suite_throughput.py --device-sets cuda:0 --seeds 6 --naive-cases 0 --profile $OUT/prof ...
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

HF_MODELS = ("facebook/dino-vitb16", "openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14")
MODEL_METRICS = {"motion-fidelity", "dynamic-degree", "identity-leakage", "subject-consistency",
                 "background-consistency", "clip-text", "clip-temporal-consistency", "aesthetic-quality"}


def metric_set(tiny: bool, head: str, dtype: str) -> list[dict]:
    tracker, flow = ("klt", "dis") if tiny else ("cotracker3", "raft")
    metrics = [{"name": "motion-fidelity", "backend": tracker}, {"name": "dynamic-degree", "backend": flow},
               {"name": "identity-leakage"}, {"name": "subject-consistency"}, {"name": "background-consistency"},
               {"name": "clip-text"}, {"name": "clip-temporal-consistency"},
               {"name": "aesthetic-quality", "head": head}, {"name": "temporal-flicker"}]
    for m in metrics:  # weight-free backends (KLT, DIS) have no dtype
        if m["name"] in MODEL_METRICS and dtype != "float32" and m.get("backend") not in ("klt", "dis"):
            m["dtype"] = dtype
    return metrics


class GpuSampler:
    """Utilization per GPU from one streaming ``nvidia-smi -lms 100`` (nothing on a CPU)."""

    def __init__(self) -> None:
        self.samples: dict[int, list[float]] = {}
        self.times: dict[int, list[float]] = {}   # seconds since the sampler started, per sample
        self._t0 = time.perf_counter()
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        try:
            self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=index,utilization.gpu",
                                           "--format=csv,noheader,nounits", "-lms", "100"],
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            return
        for line in self._proc.stdout:
            try:
                index, util = (float(x) for x in line.split(","))
            except ValueError:
                continue
            self.samples.setdefault(int(index), []).append(util / 100.0)
            self.times.setdefault(int(index), []).append(time.perf_counter() - self._t0)

    def __enter__(self) -> "GpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
        self._thread.join(timeout=5)

    def busy(self, index: int) -> float | None:
        s = self.samples.get(index)
        return sum(s) / len(s) if s else None

    def _first_busy(self, index: int) -> int | None:
        return next((i for i, u in enumerate(self.samples.get(index, [])) if u > 0), None)

    def first_kernel(self, index: int) -> float | None:
        """Seconds from the launch to the first sample with a kernel running: the fixed start
        (process start, imports, model loads, the first items' preparation)."""
        first = self._first_busy(index)
        return None if first is None else self.times[index][first]

    def busy_after_first_kernel(self, index: int) -> float | None:
        first = self._first_busy(index)
        return None if first is None else float(np.mean(self.samples[index][first:]))


def run_suite(config: Path, devices: str, out: Path, env: dict, launch: str = "devices",
              profile: Path | None = None) -> dict:
    """The plan on ``devices`` (comma-separated): one ``evalkit run --devices`` (a worker per GPU,
    work handed out by cost), or with ``launch="shards"`` one ``--shard i/n --device d_i`` process
    per device (split by item index); wall time and the busy fraction of each GPU used. With
    ``profile``, the process runs in place (``--device``, no worker process) with its main
    thread's stack sampled (benchmarks/stack_sampler.py): the device thread, where the GPU
    waits for the CPU."""
    ds = devices.split(",")
    sampler = [str(ROOT / "benchmarks" / "stack_sampler.py"), "--out", str(profile)] if profile else []
    python = [sys.executable] + sampler
    base = python + ["-m", "evalkit.cli", "run", str(config), "--out", str(out), "-q", "--allow-failures"]
    commands = ([base + ["--devices", devices]] if launch == "devices" and not profile else
                [base + ["--device", d, "--shard", f"{i}/{len(ds)}"] for i, d in enumerate(ds)])
    if profile and len(commands) > 1:
        raise SystemExit("--profile: give single-device sets (one profile per run)")
    t0 = time.perf_counter()
    with GpuSampler() as sampler:
        procs = [subprocess.Popen(c, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for c in commands]
        outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - t0
    for p, (_, err) in zip(procs, outs):
        if p.returncode != 0:  # failed items exit 0 with --allow-failures (they are in the summary)
            raise RuntimeError(f"evalkit run failed ({p.returncode}):\n{err[-3000:]}")
    used = [int(d.split(":")[1]) for d in ds if d.startswith("cuda:")]
    busy = {i: sampler.busy(i) for i in used}
    ratios = {i: 1 / b for i, b in busy.items() if b}
    steady = {i: sampler.busy_after_first_kernel(i) for i in used}
    tails = [line for _, err in outs for line in err.strip().splitlines()[-6:]]
    return {"devices": devices, "launch": launch, "wall_s": wall, "gpu_busy": busy, "wall_over_kernel_time": ratios,
            # where the idle time is: before the first kernel (fixed start) and after it (the pipeline)
            "first_kernel_s": {i: sampler.first_kernel(i) for i in used},
            "gpu_busy_after_first_kernel": steady,
            "wall_over_kernel_time_after_first_kernel": {i: 1 / b for i, b in steady.items() if b},
            "load_lines": [line.split("; load: ")[1].split(";")[0] for line in tails if "; load: " in line],
            # the device thread's seconds per stage (summed over workers): what it waited for
            "device_thread": [line[len("device thread: "):] for line in tails if line.startswith("device thread: ")],
            "stderr_tail": tails}


def naive_loop(plan: dict, cases: int, device: str) -> dict:
    """One metric at a time, one video at a time, float32, nothing shared: seconds per case.
    Each metric's models are loaded once before its cases are timed (``load_s``, counted once
    in the extrapolation, as a VBench-style script loads them once), so a few cases do not
    stand for a whole suite with a model load in every case."""
    import torch

    from evalkit.features.base import FeatureContext, load_backend
    from evalkit.registry import DATASETS, GENERATORS, METRICS

    ds = dict(plan["dataset"])
    chosen = DATASETS.get(ds.pop("name"))(**ds).cases()[:cases]
    generator = GENERATORS.get(plan["generators"][0]["name"])()
    per_metric: dict[str, float] = {}
    load_s = 0.0

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for spec in plan["metrics"]:
        opts = {k: v for k, v in spec.items() if k != "dtype"}  # float32: the reference arithmetic
        name, backend = opts.pop("name"), opts.pop("backend", None)
        metric = METRICS.get(name)(backend=backend, device=device, **opts)
        t0 = time.perf_counter()
        for model, options in metric.backend_loads():
            load_backend(model, device, **options)
        sync()
        load_s += time.perf_counter() - t0
        total = 0.0
        for case in chosen:
            sync()
            t0 = time.perf_counter()
            metric(case, generator(case, 0), FeatureContext(device=device))
            sync()
            total += time.perf_counter() - t0
        per_metric[name] = total / len(chosen)
    return {"cases": len(chosen), "seconds_per_case": sum(per_metric.values()), "per_metric_s": per_metric,
            "load_s": load_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device-sets", nargs="+", default=["cuda:0"], help="e.g. cuda:0 cuda:0,cuda:1")
    ap.add_argument("--generator", default="reverse")
    ap.add_argument("--dtype", default="bfloat16", choices=("float32", "tf32", "bfloat16"))
    ap.add_argument("--seeds", type=int, default=30, help="seeds per motion (5 motions): 30 -> 150 videos")
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=720)
    ap.add_argument("--naive-cases", type=int, default=5)
    ap.add_argument("--launch", default="devices", choices=("devices", "shards"),
                    help="evalkit run --devices (default) or one --shard process per device")
    ap.add_argument("--cotracker-code", type=Path, default=None)
    ap.add_argument("--bpe", default=None)
    ap.add_argument("--head", default="")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke test: tiny models, KLT/DIS, 2 CPU workers")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--profile", type=Path, default=None,
                    help="folder: sample each (single-device) run's device thread, run<i>.json (stack_sampler.py)")
    args = ap.parse_args(argv)
    if args.tiny:
        args.seeds, args.frames, args.height, args.width = 1, 8, 64, 80
        args.device_sets = ["cpu"] if args.profile else ["cpu,cpu"]
        args.naive_cases = 1

    work = Path(tempfile.mkdtemp(prefix="evalkit-suite-"))
    env = {**os.environ, "HF_HOME": str(work / "hf"), "TORCH_HOME": str(work / "torch"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    os.environ.update({k: env[k] for k in ("HF_HOME", "TORCH_HOME", "HF_HUB_OFFLINE")})
    import torch
    from common import write_report

    from evalkit.testing.random_models import install_random_models

    t0 = time.perf_counter()
    install_random_models(work / "hf", HF_MODELS, size="tiny" if args.tiny else "full", bpe_path=args.bpe)
    if not args.head:  # a random LAION head of the real shape (768 -> 1)
        args.head = str(work / "sa_0_4_vit_l_14_linear.pth")
        torch.save(torch.nn.Linear(768, 1).state_dict(), args.head)
    if not args.tiny:
        from motion_metrics import prepare_random_weights

        prepare_random_weights(work / "torch", args.cotracker_code)
    setup_s = time.perf_counter() - t0
    motions = ["translation", "rotation", "scaling", "pan", "fast"]
    plan = {"dataset": {"name": "synthetic", "motions": motions, "seeds": list(range(args.seeds)),
                        "num_frames": args.frames, "height": args.height, "width": args.width, "fps": 16.0},
            "generators": [{"name": args.generator}], "metrics": metric_set(args.tiny, args.head, args.dtype),
            "seeds": [0]}
    config = work / "plan.yaml"
    config.write_text(yaml.safe_dump(plan))
    cases = 5 * args.seeds
    report = {"command": " ".join([Path(sys.argv[0]).name] + list(argv if argv is not None else sys.argv[1:])),
              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
              "gpus": torch.cuda.device_count(), "cpus": os.cpu_count(), "torch": torch.__version__,
              "cases": cases, "video": f"{args.frames}x{args.height}x{args.width}", "dtype": args.dtype,
              "generator": args.generator, "setup_s": setup_s, "runs": []}
    for i, devices in enumerate(args.device_sets):
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        r = run_suite(config, devices, work / f"run{i}", env, args.launch,
                      profile=args.profile / f"run{i}.json" if args.profile else None)
        r["seconds_per_video"] = r["wall_s"] / cases
        report["runs"].append(r)
        print(json.dumps(r), flush=True)
    if len(report["runs"]) > 1:
        report["speedup_vs_first"] = [report["runs"][0]["wall_s"] / r["wall_s"] for r in report["runs"]]
    if args.naive_cases:
        naive = naive_loop(plan, args.naive_cases, args.device_sets[0].split(",")[0])
        naive["extrapolated_s"] = naive["load_s"] + naive["seconds_per_case"] * cases
        naive["speedup_of_evalkit"] = naive["extrapolated_s"] / report["runs"][0]["wall_s"]
        report["naive"] = naive
        print(json.dumps(naive), flush=True)
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
