"""Motion Smoothness throughput (VBench protocol, AMT-S): frames/s with B frame pairs per
forward vs one pair at a time (VBench's own loop), measured in one run.

Full-size AMT-S (2.99 M parameters) with random weights: a checkpoint in the official format
(``{"state_dict": ...}``) is written to a temporary TORCH_HOME and loaded through evalkit's real
path (``load_backend("amt-s")``); timings are real, values are not. Videos are generated in
memory (blocky random textures translating at a per-video velocity; no codec, no cv2/av).
Each clip size is timed after a warm-up of both modes on that size; CUDA-synchronised.
fps = frames of the scored videos / wall time of ``MotionSmoothness.score_video`` over them
(interpolation of the even frames + the MAE against the odd ones, host↔device copies included).

    python benchmarks/motion_smoothness.py --device cuda --out results.json   # ~1 min on one H100/H200
    python benchmarks/motion_smoothness.py --tiny --device cpu                 # smoke test
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

from evalkit.video import Video


def make_videos(n: int, frames: int, height: int, width: int, seed: int = 0) -> list[Video]:
    """Blocky random textures (8 px blocks) rolled by a per-video integer velocity."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        low = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
        tex = np.kron(low, np.ones((8, 8, 1), np.uint8))[:height, :width]
        vy, vx = rng.integers(-4, 5, 2)
        out.append(Video(np.stack([np.roll(tex, (vy * t, vx * t), (0, 1)) for t in range(frames)]), 8.0,
                         f"<bench{i}>"))
    return out


def parse_clip(text: str) -> tuple[int, int, int]:
    f, h, w = (int(v) for v in text.lower().split("x"))
    return f, h, w


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed_run(metric, videos, backend, device: str) -> tuple[float, list[float], float]:
    """(seconds, scores, peak GPU memory GiB) of scoring every video with ``backend``."""
    import torch

    from evalkit.features.base import FeatureContext

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    t0 = time.perf_counter()
    scores = [metric.score_video(v, FeatureContext(device), backend).value for v in videos]
    sync(device)
    seconds = time.perf_counter() - t0
    return seconds, scores, (torch.cuda.max_memory_allocated() / 2**30) if cuda else 0.0


def bench_clip(clip, args, batched, naive) -> dict:
    from evalkit.metrics.motion_smoothness import MotionSmoothness

    frames, h, w = clip
    metric = MotionSmoothness()
    warm = make_videos(1, min(5, frames), h, w, seed=99)  # kernels and allocator for this size
    for backend in (batched, naive):
        timed_run(metric, warm, backend, args.device)
    videos = make_videos(args.videos, frames, h, w, seed=1)
    total = sum(v.num_frames for v in videos)
    pairs = sum((v.num_frames + 1) // 2 - 1 for v in videos)
    t_b, s_b, mem_b = timed_run(metric, videos, batched, args.device)
    t_n, s_n, mem_n = timed_run(metric, videos, naive, args.device)
    return {"clip": f"{frames}x{h}x{w}", "videos": len(videos), "frames": total, "interpolated_frames": pairs,
            "batch_pairs": args.batch, "seconds_batched": t_b, "seconds_one_pair": t_n,
            "fps_batched": total / t_b, "fps_one_pair": total / t_n, "speedup": t_n / t_b,
            "peak_gpu_memory_gib_batched": mem_b, "peak_gpu_memory_gib_one_pair": mem_n,
            "max_score_difference": float(np.max(np.abs(np.subtract(s_b, s_n))))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--clips", default="16x320x512,49x480x720",
                    help="frames x height x width, comma-separated (VideoCrafter2, CogVideoX)")
    ap.add_argument("--frames", type=int, default=0, help="override every clip's frame count (shorter run)")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16, help="frame pairs per forward in the batched mode")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke test: one video of 3 frames, 128x128")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.tiny:
        args.clips, args.videos, args.batch = "3x128x128", 1, 2

    import torch

    from evalkit.features.base import load_backend
    from evalkit.testing.random_amt import install_random_amt

    tmp = Path(tempfile.mkdtemp(prefix="evalkit-amt-bench-"))
    os.environ["TORCH_HOME"] = str(tmp)
    os.environ.pop("EVALKIT_WEIGHTS_DIR", None)  # the random checkpoint, never a real one
    install_random_amt(tmp)
    cuda = args.device.startswith("cuda")
    info = {"device": torch.cuda.get_device_name() if cuda else platform.processor() or "cpu",
            "torch": torch.__version__, "dtype": "float32 (VBench)",
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32 if cuda else None,
            "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
            "results": []}
    try:
        t0 = time.perf_counter()
        batched = load_backend("amt-s", args.device, batch_size=args.batch)
        naive = load_backend("amt-s", args.device, batch_size=1)
        info["load_s"] = time.perf_counter() - t0
        for text in args.clips.split(","):
            frames, h, w = parse_clip(text)
            r = bench_clip((args.frames or frames, h, w), args, batched, naive)
            info["results"].append(r)
            print(json.dumps(r), flush=True)
            if args.out:
                args.out.write_text(json.dumps(info, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
