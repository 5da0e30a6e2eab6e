"""End-to-end throughput of the standard motion-transfer suite through ``evalkit run``.

The suite: ``synthetic`` at 480×720×49 (5 motions × 30 seeds = 150 videos), one generator
(``copy``), the standard metric set (Motion Fidelity on CoTracker3, Dynamic Degree on RAFT,
identity leakage, subject/background consistency, CLIP text, CLIP temporal consistency,
aesthetic quality, temporal flicker). Random weights of the real, full-size architectures are
installed into temporary caches and loaded through evalkit's real loading paths: timings are
real, values are not meaningful.

Measured in one invocation, each run on a fresh ``--out``:

- ``evalkit run`` on each device set given by ``--device-sets`` (e.g. ``cuda:0`` and
  ``cuda:0,cuda:1``: one ``--shard i/n`` process per device sharing one store), wall time and the
  GPU busy fraction (``nvidia-smi`` utilization sampled every 100 ms: the fraction of time a kernel
  ran, so wall / kernel time ≈ 1 / busy fraction);
- a naive VBench-style loop on ``--naive-cases`` cases: one metric at a time, one video at a
  time, fp32, no feature sharing (a fresh feature context per metric and video), extrapolated per
  case; speed-up = naive seconds per case × cases / evalkit wall.

    python benchmarks/suite_throughput.py --device-sets cuda:0 cuda:0,cuda:1 \\
        --cotracker-code .carry/motion/co-tracker --bpe .carry/identity/bpe_simple_vocab_16e6.txt.gz \\
        --head .carry/identity/sa_0_4_vit_l_14_linear.pth --out $OUT/suite.json
    python benchmarks/suite_throughput.py --tiny      # CPU smoke test (tiny models, KLT, 2 cases)
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

HF_MODELS = ("facebook/dino-vitb16", "openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14")


def metric_set(tiny: bool, head: str) -> list[dict]:
    tracker = "klt" if tiny else "cotracker3"
    flow = "dis" if tiny else "raft"
    aesthetic = [] if tiny else [{"name": "aesthetic-quality", "head": head}]
    return ([{"name": "motion-fidelity", "backend": tracker}, {"name": "dynamic-degree", "backend": flow},
             {"name": "identity-leakage"}, {"name": "subject-consistency"}, {"name": "background-consistency"},
             {"name": "clip-text"}, {"name": "clip-temporal-consistency"}] + aesthetic
            + [{"name": "temporal-flicker"}])


class GpuSampler:
    """Mean utilization per GPU from ``nvidia-smi`` every 100 ms while running (empty on CPU)."""

    def __init__(self) -> None:
        self.samples: list[list[float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.samples.append([float(x) for x in out.split()])
            except (OSError, ValueError, subprocess.TimeoutExpired):
                return
            self._stop.wait(0.1)

    def __enter__(self) -> "GpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def busy(self) -> list[float]:
        if not self.samples:
            return []
        n = min(len(s) for s in self.samples)
        return [sum(s[i] for s in self.samples) / len(self.samples) / 100.0 for i in range(n)]


def run_suite(config: Path, devices: list[str], out: Path, env: dict) -> dict:
    """One ``evalkit run`` per device (``--shard i/n``) on one store; wall time and busy fraction."""
    cmd = [sys.executable, "-m", "evalkit.cli", "run", str(config), "--out", str(out), "-q", "--allow-failures"]
    t0 = time.perf_counter()
    with GpuSampler() as sampler:
        procs = [subprocess.Popen(cmd + ["--device", d, "--shard", f"{i}/{len(devices)}"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i, d in enumerate(devices)]
        outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - t0
    for p, (so, se) in zip(procs, outs):
        if p.returncode not in (0, 1):
            raise RuntimeError(f"evalkit run failed ({p.returncode}):\n{se[-3000:]}")
    busy = sampler.busy()
    used = [int(d.split(":")[1]) if ":" in d else 0 for d in devices if d.startswith("cuda")]
    busy_used = [busy[i] for i in used if i < len(busy)]
    return {"devices": devices, "wall_s": wall, "gpu_busy": busy_used,
            "wall_over_kernel_time": (1 / (sum(busy_used) / len(busy_used))) if busy_used and sum(busy_used) else None,
            "summary": [so.strip().splitlines()[:1] for so, _ in outs]}


def naive_loop(plan: dict, cases: int, device: str, env_hf: str) -> dict:
    """One metric at a time, one video at a time, fp32, nothing shared: seconds per case."""
    import torch

    from evalkit.features.base import FeatureContext
    from evalkit.registry import DATASETS, GENERATORS, METRICS

    ds = dict(plan["dataset"])
    chosen = DATASETS.get(ds.pop("name"))(**ds).cases()[:cases]
    copy = GENERATORS.get("copy")()
    per_metric: dict[str, float] = {}
    for spec in plan["metrics"]:
        opts = dict(spec)
        name, backend = opts.pop("name"), opts.pop("backend", None)
        metric = METRICS.get(name)(backend=backend, device=device, **opts)
        total = 0.0
        for case in chosen:
            generation = copy(case, 0)
            ctx = FeatureContext(device=device, dtype="float32")
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            metric(case, generation, ctx)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            total += time.perf_counter() - t0
        per_metric[name] = total / len(chosen)
    return {"cases": len(chosen), "seconds_per_case": sum(per_metric.values()), "per_metric_s": per_metric}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device-sets", nargs="+", default=["cuda:0"], help="e.g. cuda:0 cuda:0,cuda:1")
    ap.add_argument("--seeds", type=int, default=30, help="seeds per motion (5 motions): 30 -> 150 videos")
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=720)
    ap.add_argument("--naive-cases", type=int, default=5)
    ap.add_argument("--cotracker-code", type=Path, default=None)
    ap.add_argument("--bpe", default=None)
    ap.add_argument("--head", default="")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke test: tiny models, KLT/DIS, 2 cases")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.tiny:
        args.device_sets, args.seeds, args.frames, args.height, args.width = ["cpu"], 1, 8, 64, 80
        args.naive_cases = 1

    work = Path(tempfile.mkdtemp(prefix="evalkit-suite-"))
    env = {**os.environ, "HF_HOME": str(work / "hf"), "TORCH_HOME": str(work / "torch"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    os.environ.update({k: env[k] for k in ("HF_HOME", "TORCH_HOME", "HF_HUB_OFFLINE")})
    from evalkit.testing.random_models import install_random_models

    t0 = time.perf_counter()
    install_random_models(work / "hf", HF_MODELS, size="tiny" if args.tiny else "full", bpe_path=args.bpe)
    if not args.tiny:
        from motion_metrics import prepare_random_weights

        prepare_random_weights(work / "torch", args.cotracker_code)
    setup_s = time.perf_counter() - t0
    motions = "translation rotation scaling pan fast"
    seeds = " ".join(str(s) for s in range(args.seeds))
    plan = {"dataset": {"name": "synthetic", "motions": motions, "seeds": seeds, "num_frames": args.frames,
                        "height": args.height, "width": args.width, "fps": 16.0},
            "generators": [{"name": "copy"}], "metrics": metric_set(args.tiny, args.head), "seeds": [0]}
    config = work / "plan.yaml"
    config.write_text(yaml.safe_dump(plan))
    cases = 5 * args.seeds
    import torch

    report = {"command": " ".join([Path(sys.argv[0]).name] + list(argv if argv is not None else sys.argv[1:])),
              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
              "gpus": torch.cuda.device_count(), "torch": torch.__version__, "cases": cases,
              "video": f"{args.frames}x{args.height}x{args.width}", "setup_s": setup_s, "runs": []}
    for i, devices in enumerate(args.device_sets):
        r = run_suite(config, devices.split(","), work / f"run{i}", env)
        r["seconds_per_video"] = r["wall_s"] / cases
        report["runs"].append(r)
        print(json.dumps(r), flush=True)
    if len(report["runs"]) > 1:
        report["speedup_vs_first"] = [report["runs"][0]["wall_s"] / r["wall_s"] for r in report["runs"]]
    if args.naive_cases:
        naive = naive_loop(plan, args.naive_cases, args.device_sets[0].split(",")[0], str(work / "hf"))
        naive["extrapolated_s"] = naive["seconds_per_case"] * cases
        naive["speedup_of_evalkit"] = naive["extrapolated_s"] / report["runs"][0]["wall_s"]
        report["naive"] = naive
        print(json.dumps(naive), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
