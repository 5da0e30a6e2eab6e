r"""Throughput of the identity/appearance metric set: shared batched features vs a naive loop.

Random-weight models of the real architectures at full size (DINO ViT-B/16, CLIP ViT-B/32,
CLIP ViT-L/14, CLIPSeg rd64-refined) are saved into a temporary HF cache under their hub ids
and loaded through the production path. Videos: ``--videos`` generated clips grouped into
multi-shot sets of ``--shots`` (one source video per set for identity leakage).

- shared: one FeatureContext for the run, backends batched (``--batch-size``); every metric
  reuses the per-video features.
- naive: every metric computes its own features (no memo), one frame per forward pass.

Also: model-FLOP utilisation of the DINO ViT-B/16 pass (FLOPs counted by
torch.utils.flop_counter on one batch, divided by the measured time of the pass).

Example (GPU; the command of docs/performance.md "Identity metrics"):
    python3 benchmarks/identity_metrics.py --device cuda --dtype bfloat16 --size full --videos 150 \
        --frames 49 --height 480 --width 720 --batch-size 49 --naive-videos 15 \
        --bpe .carry/identity/bpe_simple_vocab_16e6.txt.gz \
        --head .carry/identity/sa_0_4_vit_l_14_linear.pth --out $OUT/identity_bf16.json
Tiny smoke run on CPU: --device cpu --dtype float32 --size tiny --videos 5 --frames 3
    --height 64 --width 80 --naive-videos 5 --batch-size 4 (open_clip installed for the BPE file)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METRIC_SET = ("set-consistency", "subject-consistency", "background-consistency", "clip-text",
              "clip-score", "clip-temporal-consistency", "aesthetic-quality")
MODEL_IDS = ("facebook/dino-vitb16", "openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14",
             "CIDAS/clipseg-rd64-refined")
# dense bf16/fp16 tensor-core peaks (NVIDIA datasheets), for MFU
PEAK_TFLOPS = {"H100 SXM": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H200": 989.0}


def make_videos(n: int, frames: int, height: int, width: int, seed: int):
    """n distinct videos: a textured colour field per video, panning 3 px per frame."""
    from evalkit.video import Video

    rng = np.random.default_rng(seed)
    span = width + 3 * frames
    yy, xx = np.mgrid[0:height, 0:span].astype(np.float32)
    for i in range(n):
        phase, freq = rng.uniform(0, 2 * np.pi, 3), rng.uniform(0.005, 0.03, 3)
        base = np.stack([107 + 100 * np.sin(freq[c] * xx + phase[c] + 0.01 * yy) for c in range(3)], -1)
        base = (base + rng.integers(0, 40, base.shape)).clip(0, 255).astype(np.uint8)
        clip = np.stack([base[:, 3 * t:3 * t + width] for t in range(frames)])
        yield Video(clip, 8.0, f"bench-{seed}-{i}")


class NaiveContext:
    """A FeatureContext that shares nothing: no memo, one frame per forward pass."""

    def __init__(self, device, dtype):
        from evalkit.features.base import FeatureContext

        self._ctx = FeatureContext(device, dtype)
        self.device, self.dtype = device, dtype

    def backend(self, name, **options):
        return self._ctx.backend(name, batch_size=1, **options)

    def cached(self, key, compute):
        return compute()

    def features(self, backend, video, what, compute):
        return compute()

    def source_video(self, case):
        return case.source.load()


class StageTimer:
    """Wall time per backend method (CUDA-synchronised), to see where the shared path goes."""

    def __init__(self, device):
        self.device, self.seconds, self.active = device, {}, False

    def wrap(self, cls, method, label):
        original = getattr(cls, method)
        timer = self

        def timed(self_, *a, **k):
            if not timer.active:
                return original(self_, *a, **k)
            sync(timer.device)
            t0 = time.perf_counter()
            out = original(self_, *a, **k)
            sync(timer.device)
            key = f"{label}[{self_.options.get('preprocess', '')}]"
            timer.seconds[key] = timer.seconds.get(key, 0.0) + time.perf_counter() - t0
            return out

        setattr(cls, method, timed)


def sync(device):
    if device.startswith("cuda"):
        import torch
        torch.cuda.synchronize()


def run_metrics(sets, ctx, metrics, leak, seconds=None):
    """Every metric on every case; ``seconds`` collects wall time per metric (first user pays)."""
    from evalkit.cases import Generation, InlineVideo, MotionTransferCase

    seconds = {} if seconds is None else seconds
    values = {m.column: [] for m in metrics + [leak]}

    def timed(m, case, gen):
        t0 = time.perf_counter()
        values[m.column].append(m(case, gen, ctx).value)
        seconds[m.spec.name] = seconds.get(m.spec.name, 0.0) + time.perf_counter() - t0

    for case, source, shots in sets:
        gen = Generation(tuple(shots))
        for m in metrics:
            timed(m, case, gen)
        for shot in shots:
            timed(leak, MotionTransferCase(f"{case.case_id}-mt", InlineVideo(source), case.prompts[0]),
                  Generation((shot,)))
    return values


def dino_mfu(device, dtype, frames, height, width, batch_size, peak_tflops):
    """FLOPs of one DINO ViT-B/16 batch (flop counter) / measured time of the forward passes."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from evalkit.features.base import load_backend

    dino = load_backend("dino-vitb16", device, dtype, batch_size=batch_size)
    x = torch.randint(0, 256, (batch_size, height, width, 3), dtype=torch.uint8)
    pix = dino.preprocess(x, device, getattr(torch, dtype))
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            dino.model(pixel_values=pix, interpolate_pos_encoding=True)
        flops = counter.get_total_flops()
        for _ in range(3):
            dino.model(pixel_values=pix, interpolate_pos_encoding=True)
        sync(device)
        reps = max(1, frames // batch_size)
        t0 = time.perf_counter()
        for _ in range(reps):
            dino.model(pixel_values=pix, interpolate_pos_encoding=True)
        sync(device)
        model_s = (time.perf_counter() - t0) / reps
        # end to end: uint8 frames on the host -> preprocessing on the device -> CLS features
        frames_np = x.numpy()
        dino.embed(frames_np)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            dino.embed(frames_np)
        embed_s = (time.perf_counter() - t0) / reps
    out = {"batch": batch_size, "input": list(pix.shape), "gflop_per_frame": flops / batch_size / 1e9,
           "model_s_per_batch": model_s, "embed_s_per_batch": embed_s,
           "model_frames_per_s": batch_size / model_s, "embed_frames_per_s": batch_size / embed_s}
    if peak_tflops:
        out["mfu_model"] = flops / model_s / (peak_tflops * 1e12)
        out["mfu_embed"] = flops / embed_s / (peak_tflops * 1e12)
        out["peak_tflops"] = peak_tflops
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16", choices=("float32", "float16", "bfloat16"))
    p.add_argument("--size", default="full", choices=("full", "tiny"))
    p.add_argument("--videos", type=int, default=150)
    p.add_argument("--shots", type=int, default=5)
    p.add_argument("--frames", type=int, default=49)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=720)
    p.add_argument("--batch-size", type=int, default=49)
    p.add_argument("--naive-videos", type=int, default=10, help="videos for the naive path (a subset; 0: skip)")
    p.add_argument("--bpe", default=None, help="open_clip's bpe_simple_vocab_16e6.txt.gz (tokenizer)")
    p.add_argument("--head", default="", help="LAION sa_0_4_vit_l_14_linear.pth")
    p.add_argument("--hf-home", default="", help="cache to install the random models into (default: temp)")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hf_home = args.hf_home or tempfile.mkdtemp(prefix="evalkit-bench-hf-")
    os.environ["HF_HOME"] = hf_home
    import torch

    from evalkit.cases import MultiShotCase
    from evalkit.features.base import FeatureContext, load_backend
    from evalkit.testing.random_models import install_random_models
    from evalkit.registry import METRICS

    report = {"argv": sys.argv, "device": args.device, "dtype": args.dtype, "size": args.size,
              "torch": torch.__version__, "python": platform.python_version()}
    import transformers
    report["transformers"] = transformers.__version__
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    report["gpu"] = gpu
    t0 = time.perf_counter()
    install_random_models(hf_home, MODEL_IDS, size=args.size, bpe_path=args.bpe)
    report["install_s"] = time.perf_counter() - t0

    n_sets = args.videos // args.shots
    vids = list(make_videos(n_sets * (args.shots + 1), args.frames, args.height, args.width, seed=0))
    sets = []
    for s in range(n_sets):
        group = vids[s * (args.shots + 1):(s + 1) * (args.shots + 1)]
        case = MultiShotCase(f"set{s}", "a person", tuple(f"a person walking, shot {k}" for k in range(args.shots)))
        sets.append((case, group[0], group[1:]))
    for _, src, shots in sets:  # content hashes are part of any real run's cost, but precompute once
        src.fingerprint(), [v.fingerprint() for v in shots]

    def metric_objects():
        ms = [METRICS.get(n)(**({"head": args.head} if n == "aesthetic-quality" else {})) for n in METRIC_SET]
        return ms, METRICS.get("identity-leakage")()

    # load every backend once (both batchings) outside the timed regions
    t0 = time.perf_counter()
    for name, opts in (("dino-vitb16", {"preprocess": "vbench-dino"}), ("clip-vit-b32", {"preprocess": "vbench-clip"}),
                       ("clip-vit-l14", {"preprocess": "vbench-clip"}), ("clipseg-rd64", {"preprocess": "clipseg"})):
        for bs in (args.batch_size, 1):
            load_backend(name, args.device, args.dtype, batch_size=bs, **opts)
    report["load_s"] = time.perf_counter() - t0

    class Ctx(FeatureContext):
        def backend(self, name, **options):
            return load_backend(name, self.device, self.dtype, batch_size=args.batch_size, **options)

    metrics, leak = metric_objects()
    warm = Ctx(args.device, args.dtype, max_items=4096)
    run_metrics(sets[:1], warm, metrics, leak)  # warm-up (kernels, allocator) on one set
    naive_sets = sets[:max(1, args.naive_videos // args.shots)]

    from evalkit.features.clip import ClipBackend
    from evalkit.features.clipseg import ClipSegBackend
    from evalkit.features.dino import DinoBackend

    timer = StageTimer(args.device)
    for cls, method, label in ((DinoBackend, "embed", "dino.embed"), (ClipBackend, "embed", "clip.embed"),
                               (ClipBackend, "embed_texts", "clip.embed_texts"),
                               (ClipSegBackend, "saliency", "clipseg.saliency")):
        timer.wrap(cls, method, label)
    ctx = Ctx(args.device, args.dtype, max_items=4096)
    metric_s = {}
    sync(args.device)
    t0 = time.perf_counter()
    timer.active = True
    shared_values = run_metrics(sets, ctx, metrics, leak, metric_s)
    timer.active = False
    sync(args.device)
    shared_s = time.perf_counter() - t0
    report["shared_breakdown_s"] = {"by_backend_call": timer.seconds, "by_metric": metric_s}
    n_frames = n_sets * args.shots * args.frames
    report["shared"] = {"videos": n_sets * args.shots, "frames": n_frames, "seconds": shared_s,
                        "frames_per_s": n_frames / shared_s, "feature_hits": ctx.hits, "feature_misses": ctx.misses}
    print(f"shared: {n_frames} frames in {shared_s:.1f} s = {n_frames / shared_s:.1f} frames/s", flush=True)

    if args.naive_videos <= 0:
        return finish(report, args)
    naive_ctx = NaiveContext(args.device, args.dtype)
    sync(args.device)
    t0 = time.perf_counter()
    naive_values = run_metrics(naive_sets, naive_ctx, metrics, leak)
    sync(args.device)
    naive_s = time.perf_counter() - t0
    n_naive = len(naive_sets) * args.shots * args.frames
    report["naive"] = {"videos": len(naive_sets) * args.shots, "frames": n_naive, "seconds": naive_s,
                       "frames_per_s": n_naive / naive_s}
    report["speedup"] = report["shared"]["frames_per_s"] / report["naive"]["frames_per_s"]
    print(f"naive: {n_naive} frames in {naive_s:.1f} s = {n_naive / naive_s:.1f} frames/s; "
          f"speedup x{report['speedup']:.1f}", flush=True)
    # the two paths compute the same numbers (batching aside)
    diffs = {k: float(np.max(np.abs(np.array(naive_values[k]) - np.array(shared_values[k][:len(naive_values[k])]))))
             for k in naive_values}
    report["max_abs_diff_naive_vs_shared"] = diffs

    return finish(report, args)


def finish(report, args) -> int:
    import torch

    gpu = report["gpu"]
    peak = next((v for k, v in PEAK_TFLOPS.items() if all(w in gpu for w in k.split())), None)
    if peak is None and "H100" in gpu:
        peak = PEAK_TFLOPS["H100 SXM"] if "HBM3" in gpu or "SXM" in gpu or "80GB" in gpu else None
    h, w = args.height, args.width
    report["dino_mfu"] = dino_mfu(args.device, args.dtype, 49 * 10, h, w, args.batch_size, peak)
    if args.device.startswith("cuda"):
        report["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(report, indent=1, default=str), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
