"""Throughput of the motion metrics: Dynamic Degree (RAFT-large, DIS) and Motion Fidelity
(CoTracker3, KLT) on T×H×W videos generated in memory, batched vs a naive one-video,
one-pair-at-a-time loop, measured in one run.

With ``--random-weights`` the script writes random-weight checkpoints of the real
architectures into a temporary TORCH_HOME (RAFT: torchvision ``raft_large``; CoTracker3:
the hub code given by ``--cotracker-code``, a co-tracker checkout) and loads them through
evalkit's real loading path. Timings are real; the metric values are not meaningful.

``--dtypes float32,tf32,bfloat16`` also runs Dynamic Degree (RAFT) and Motion Fidelity
(CoTracker3) in each precision on the same videos and reports the speed and the largest
difference against float32 of the flow / tracks (pixels) and of each metric's values.
CoTracker3 tracks ``--cotracker-batch`` videos per forward pass (1: one at a time).

    python benchmarks/motion_metrics.py --device cuda --random-weights \
        --cotracker-code .carry/motion/co-tracker --dtypes float32,tf32,bfloat16 --out results.json
    python benchmarks/motion_metrics.py --tiny   # CPU smoke run (RAFT, 2 iterations, 128×128)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalkit.video import Video  # noqa: E402


def make_videos(n: int, frames: int, height: int, width: int, seed: int = 0) -> list[Video]:
    """Smooth random textures translating at a per-video velocity (in memory, no codec)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        vx, vy = rng.uniform(-4, 4, 2)
        pad = int(np.ceil(max(abs(vx), abs(vy)) * frames)) + 8
        low = rng.uniform(0, 255, ((height + 2 * pad) // 8, (width + 2 * pad) // 8, 3)).astype(np.float32)
        canvas = cv2.resize(low, (width + 2 * pad, height + 2 * pad), interpolation=cv2.INTER_CUBIC)
        canvas = np.clip(canvas + rng.normal(0, 12, canvas.shape), 0, 255).astype(np.float32)
        frs = []
        for t in range(frames):
            m = np.float32([[1, 0, -(pad + vx * t)], [0, 1, -(pad + vy * t)]])
            frs.append(cv2.warpAffine(canvas, m, (width, height), flags=cv2.INTER_LINEAR))
        out.append(Video(np.clip(np.stack(frs), 0, 255).astype(np.uint8), 8.0, f"<bench{i}>"))
    return out


def prepare_random_weights(torch_home: Path, cotracker_code: Path | None) -> None:
    from evalkit.testing.random_motion import install_random_cotracker3, install_random_raft

    install_random_raft(torch_home)
    if cotracker_code is not None:
        install_random_cotracker3(torch_home, cotracker_code)


def timed(fn, device: str) -> float:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench_dynamic_degree(backend_name: str, videos, device: str, batch: int, iters: int = 20) -> dict:
    from evalkit.features.base import FeatureContext, load_backend
    from evalkit.metrics.dynamic_degree import DynamicDegree

    metric = DynamicDegree(backend=backend_name)
    raft = {"iters": iters} if backend_name == "raft" else {}
    batched = load_backend(backend_name, device, **({"batch_size": batch, **raft} if raft else {}))
    naive = load_backend(backend_name, device, **({"batch_size": 1, **raft} if raft else {}))
    metric.score_video(videos[0].truncate(4), FeatureContext(device), batched)  # warm-up
    metric.score_video(videos[0].truncate(4), FeatureContext(device), naive)
    frames = sum(v.num_frames for v in videos)
    t_b = timed(lambda: [metric.score_video(v, FeatureContext(device), batched) for v in videos], device)
    t_n = timed(lambda: [metric.score_video(v, FeatureContext(device), naive) for v in videos], device)
    return {"metric": "dynamic-degree", "backend": backend_name, "videos": len(videos), "frames": frames,
            "batched": f"{batch} frame pairs per forward" if backend_name == "raft" else "per video",
            "fps_batched": frames / t_b, "fps_naive": frames / t_n, "speedup": t_n / t_b}


def bench_motion_fidelity(backend_name: str, sources, generated, device: str, batch: int = 4) -> dict:
    from evalkit.features.base import load_backend
    from evalkit.metrics.motion_fidelity import motion_fidelity

    backend = load_backend(backend_name, device, **({"batch_size": batch} if backend_name == "cotracker3" else {}))
    backend.track([sources[0].truncate(8)], grid_size=55)  # warm-up

    def score(p, q):
        return motion_fidelity(p.points.transpose(1, 0, 2), q.points.transpose(1, 0, 2))

    def batched_run():
        # every source once, all generated videos in batches (CoTracker3: videos per pass), then the scores
        src = backend.track(sources, grid_size=55)
        gen = backend.track(generated, grid_size=55)
        return [score(src[i % len(src)], g) for i, g in enumerate(gen)]

    def naive_run():
        out = []
        for i, g in enumerate(generated):
            p = backend.track([sources[i % len(sources)]], grid_size=55)[0]
            q = backend.track([g], grid_size=55)[0]
            out.append(score(p, q))
        return out

    t_b = timed(batched_run, device)
    t_n = timed(naive_run, device)
    gen_frames = sum(v.num_frames for v in generated)
    return {"metric": "motion-fidelity", "backend": backend_name, "pairs": len(generated),
            "generated_frames": gen_frames,
            "batched": "tracks of each source computed once and shared by its pairs; "
                       f"{getattr(backend, 'batch_size', 1)} videos per forward pass",
            "fps_batched": gen_frames / t_b, "fps_naive": gen_frames / t_n, "speedup": t_n / t_b}


def compare_precisions(sources, generated, device: str, dtypes: list[str], raft_iters: int,
                       with_cotracker: bool) -> list[dict]:
    """Each metric in each dtype on the same videos: speed and largest differences vs float32."""
    from evalkit.cases import Generation, InlineVideo, MotionTransferCase
    from evalkit.features.base import FeatureContext, load_backend
    from evalkit.metrics.dynamic_degree import DynamicDegree
    from evalkit.metrics.motion_fidelity import MotionFidelity

    dtypes = ["float32"] + [d for d in dtypes if d != "float32"]  # the reference first
    pairs = [(MotionTransferCase(f"p{i}", InlineVideo(sources[i % len(sources)]), "t"), Generation((g,)))
             for i, g in enumerate(generated)]
    out, ref = [], {}
    for name in ["raft"] + (["cotracker3"] if with_cotracker else []):
        for dtype in dtypes:
            if name == "raft":
                metric = DynamicDegree(backend="raft", dtype=dtype)
                backend = load_backend("raft", device, dtype, iters=raft_iters)
                metric.score_video(generated[0].truncate(3), FeatureContext(device), backend)  # warm-up
                ctx = FeatureContext(device)
                seconds = timed(lambda: [metric.score_video(g, ctx, backend) for g in generated], device)
                results = [metric.score_video(g, ctx, backend) for g in generated]  # memoised
                raw = [backend.flow(g.truncate(4)) for g in generated]
                values = {"decision": [r.value for r in results],
                          "pair_scores": [s for r in results for s in r.details["pair_scores"]]}
            else:
                metric = MotionFidelity(dtype=dtype)
                backend = load_backend("cotracker3", device, dtype)
                backend.track([sources[0].truncate(8)], grid_size=55)  # warm-up
                ctx = FeatureContext(device)
                seconds = timed(lambda: [metric(c, g, ctx) for c, g in pairs], device)
                values = {"motion_fidelity": [metric(c, g, ctx).value for c, g in pairs]}
                raw = [t.points for t in backend.track(generated, grid_size=55)]
            row = {"metric": metric.spec.name, "backend": name, "dtype": dtype, "seconds": seconds,
                   "fps": sum(g.num_frames for g in generated) / seconds}
            if dtype == "float32":
                ref[name] = (values, raw)
            elif name in ref:
                ref_values, ref_raw = ref[name]
                row["max_abs_diff_vs_float32"] = {
                    k: float(np.max(np.abs(np.subtract(v, ref_values[k])))) for k, v in values.items()}
                row["max_abs_diff_vs_float32"]["flow_px" if name == "raft" else "tracks_px"] = float(
                    max(np.abs(a - b).max() for a, b in zip(raw, ref_raw)))
                if name == "raft":
                    row["decisions_changed"] = int(np.sum(np.array(values["decision"]) != np.array(ref_values["decision"])))
            out.append(row)
            print(json.dumps(row), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=720)
    ap.add_argument("--videos", type=int, default=4, help="generated videos (= pairs); sources: 2")
    ap.add_argument("--raft-batch", type=int, default=16)
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--cotracker-code", type=Path, default=None)
    ap.add_argument("--backends", default="raft,dis,cotracker3,klt")
    ap.add_argument("--cotracker-batch", type=int, default=4, help="CoTracker3 videos per forward pass")
    ap.add_argument("--raft-iters", type=int, default=20)
    ap.add_argument("--dtypes", default="", help="e.g. float32,tf32,bfloat16: speed and differences vs float32")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run: RAFT only, 2 iterations, 3 frames of 128×128")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.tiny:
        args.device, args.frames, args.height, args.width, args.videos = "cpu", 3, 128, 128, 2
        args.random_weights, args.backends, args.raft_iters, args.dtypes = True, "raft,klt", 2, "float32,bfloat16"

    tmp = None
    if args.random_weights:
        tmp = Path(tempfile.mkdtemp(prefix="evalkit-bench-"))
        os.environ["TORCH_HOME"] = str(tmp)
        prepare_random_weights(tmp, args.cotracker_code)
    names = args.backends.split(",")
    if "cotracker3" in names and args.random_weights and args.cotracker_code is None:
        names.remove("cotracker3")
    generated = make_videos(args.videos, args.frames, args.height, args.width, seed=1)
    sources = make_videos(2, args.frames, args.height, args.width, seed=2)
    import torch

    info = {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu",
            "torch": torch.__version__, "video": f"{args.frames}x{args.height}x{args.width}",
            "command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:])), "results": []}
    for name in names:
        if name in ("raft", "dis"):
            dev = args.device if name == "raft" else "cpu"
            r = bench_dynamic_degree(name, generated, dev, args.raft_batch, args.raft_iters)
        else:
            dev = args.device if name.startswith("cotracker") else "cpu"
            r = bench_motion_fidelity(name, sources, generated, dev, args.cotracker_batch)
        r["run_on"] = dev
        info["results"].append(r)
        print(json.dumps(r), flush=True)
    if args.dtypes:
        info["precision"] = compare_precisions(sources, generated, args.device, args.dtypes.split(","),
                                               args.raft_iters, "cotracker3" in names)
    if args.device.startswith("cuda"):
        info["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if args.out:
        args.out.write_text(json.dumps(info, indent=2))
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
