r"""Throughput of the identity/appearance metric set: shared batched features vs a naive loop.

Random-weight models of the real architectures at full size (DINO ViT-B/16, CLIP ViT-B/32,
CLIP ViT-L/14, CLIPSeg rd64-refined) are saved into a temporary HF cache under their hub ids
and loaded through the production path. Videos: ``--videos`` generated clips grouped into
multi-shot sets of ``--shots`` (one source video per set for identity leakage).

- shared: one FeatureContext for the run, backends batched (``--batch-size``); every metric
  reuses the per-video features, computed item by item.
- collected: as shared, over windows of ``--window`` sets whose features are collected and
  computed together (evalkit.features.base.call_batched, what the runner does): one forward
  pass serves the frames of many videos.
- naive: every metric computes its own features (no memo), one frame per forward pass.
- precision: the metric values of the first ``--compare-sets`` sets in float32 against the
  run's ``--dtype`` (maximum absolute difference per metric).

Also: model-FLOP utilisation of the DINO ViT-B/16 pass (FLOPs counted from the architecture,
evalkit.features.flops) for each of ``--mfu-batches``: "model" times the forward pass on a
preprocessed batch already on the device, "end to end" times ``embed_videos`` on uint8 host
frames of ``--mfu-videos`` videos (upload, preprocessing on the device, forward, CLS back).

Example (GPU; the command of docs/performance.md "Identity metrics"; about 4 minutes on an H200):
    python3 benchmarks/identity_metrics.py --device cuda --dtype bfloat16 --size full --videos 150 \
        --frames 49 --height 480 --width 720 --batch-size 256 --naive-videos 15 \
        --bpe .carry/identity/bpe_simple_vocab_16e6.txt.gz \
        --head .carry/identity/sa_0_4_vit_l_14_linear.pth --out $OUT/identity_bf16.json
Tiny smoke run on CPU: --tiny (tiny models, 2 sets of 64×80×3, open_clip installed for the BPE file)
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
# dense peaks (NVIDIA datasheets), TFLOP/s: (bf16/fp16 tensor core, tf32 tensor core, fp32)
PEAK_TFLOPS = {"H100 SXM": (989.0, 494.5, 67.0), "H100 PCIe": (756.0, 378.0, 51.0),
               "H100 NVL": (835.0, 417.5, 60.0), "H200": (989.0, 494.5, 67.0)}


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


def naive_context(device):
    """A FeatureContext that shares nothing: no memo, one frame per forward pass."""
    from evalkit.features.base import FeatureContext

    class NaiveContext(FeatureContext):
        def backend(self, name, dtype=None, **options):
            return super().backend(name, dtype=dtype, batch_size=1, **options)

        def cached(self, key, compute):
            return compute()

        def features(self, backend, video, what, compute, batch=None):
            return compute()

    return NaiveContext(device)


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
            key = f"{self_.registry_name}.{label}[{self_.options.get('preprocess', '')},{self_.dtype}]"
            timer.seconds[key] = timer.seconds.get(key, 0.0) + time.perf_counter() - t0
            return out

        setattr(cls, method, timed)


def sync(device):
    if device.startswith("cuda"):
        import torch
        torch.cuda.synchronize()


def set_calls(sets, ctx, metrics, leak):
    """One thunk per (metric, item) of ``sets``, keyed by metric name, in a stable order."""
    from evalkit.cases import Generation, InlineVideo, MotionTransferCase

    calls = []
    for case, source, shots in sets:
        gen = Generation(tuple(shots))
        calls += [(m.spec.name, lambda m=m, c=case, g=gen: m(c, g, ctx).value) for m in metrics]
        for shot in shots:
            mt = MotionTransferCase(f"{case.case_id}-mt", InlineVideo(source), case.prompts[0])
            calls.append((leak.spec.name, lambda c=mt, g=Generation((shot,)): leak(c, g, ctx).value))
    return calls


def run_metrics(sets, ctx, metrics, leak, seconds=None, window=0):
    """Every metric on every item: one by one (``window`` 0; ``seconds`` collects wall time per
    metric, the first user of a feature pays), or ``window`` sets at a time, collected."""
    from evalkit.features.base import call_batched

    values = {m.spec.name: [] for m in metrics + [leak]}
    step = window or len(sets)
    for start in range(0, len(sets), step):
        calls = set_calls(sets[start:start + step], ctx, metrics, leak)
        if window:
            for (column, _), (ok, value) in zip(calls, call_batched(ctx, [c for _, c in calls])):
                if not ok:
                    raise value
                values[column].append(value)
            continue
        for column, call in calls:
            t0 = time.perf_counter()
            values[column].append(call())
            if seconds is not None:
                seconds[column] = seconds.get(column, 0.0) + time.perf_counter() - t0
    return values


def max_differences(a, b):
    """Largest |a - b| per metric over the items both hold."""
    return {k: float(np.max(np.abs(np.array(a[k][:len(b[k])]) - np.array(b[k][:len(a[k])])))) for k in a}


def dino_mfu(args, peak):
    """Model-FLOP utilisation of DINO ViT-B/16 per batch size: model only and end to end."""
    import torch

    from evalkit.features.base import load_backend
    from evalkit.features.flops import vit_config_flops

    clips = [np.ascontiguousarray(v.frames) for v in make_videos(args.mfu_videos, args.frames, args.height,
                                                                  args.width, seed=7)]
    out = []
    for batch in args.mfu_batches:
        dino = load_backend("dino-vitb16", args.device, args.dtype, batch_size=batch)
        h, w = dino.preprocess.output_size(args.height, args.width)
        flops = vit_config_flops(dino.model.config, h, w)  # per frame
        x = torch.randint(0, 256, (batch, args.height, args.width, 3), dtype=torch.uint8)
        pix = dino.preprocess(x, args.device, dino.input_dtype)
        row = {"batch": batch, "input": list(pix.shape), "gflop_per_frame": flops / 1e9}
        models = {"model": dino.model}
        if args.compile:
            models["model_compiled"] = torch.compile(dino.model, dynamic=False)
        reps = max(3, 1024 // batch)
        with torch.inference_mode():
            for label, model in models.items():
                for _ in range(3):  # warm-up (and compilation)
                    model(pixel_values=pix, interpolate_pos_encoding=True)
                sync(args.device)
                t0 = time.perf_counter()
                for _ in range(reps):
                    model(pixel_values=pix, interpolate_pos_encoding=True)
                sync(args.device)
                row[f"{label}_frames_per_s"] = batch * reps / (time.perf_counter() - t0)
        # end to end: uint8 frames on the host -> upload -> preprocessing on the device -> CLS back
        dino.embed_videos(clips[:2])
        t0 = time.perf_counter()
        dino.embed_videos(clips)
        row["end_to_end_frames_per_s"] = sum(len(c) for c in clips) / (time.perf_counter() - t0)
        for key in [k for k in row if k.endswith("_frames_per_s")]:
            row[f"tflops_{key[:-len('_frames_per_s')]}"] = row[key] * flops / 1e12
            if peak:
                row[f"mfu_{key[:-len('_frames_per_s')]}"] = row[key] * flops / (peak * 1e12)
        out.append(row)
        print(json.dumps(row), flush=True)
    return {"peak_tflops": peak, "dtype": args.dtype, "videos": args.mfu_videos, "by_batch": out}


def peak_tflops(gpu: str, dtype: str):
    """The datasheet peak of ``gpu`` for ``dtype`` (None when unknown, e.g. on a CPU)."""
    peaks = next((v for k, v in PEAK_TFLOPS.items() if all(w in gpu for w in k.split())), None)
    if peaks is None and "H100" in gpu and ("HBM3" in gpu or "80GB" in gpu):
        peaks = PEAK_TFLOPS["H100 SXM"]
    return None if peaks is None else peaks[{"bfloat16": 0, "float16": 0, "tf32": 1}.get(dtype, 2)]


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16", choices=("float32", "tf32", "bfloat16"))
    p.add_argument("--size", default="full", choices=("full", "tiny"))
    p.add_argument("--videos", type=int, default=150)
    p.add_argument("--shots", type=int, default=5)
    p.add_argument("--frames", type=int, default=49)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=720)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--window", type=int, default=6, help="sets per collected window (0: skip that path)")
    p.add_argument("--naive-videos", type=int, default=10, help="videos for the naive path (a subset; 0: skip)")
    p.add_argument("--compare-sets", type=int, default=3, help="sets recomputed in float32 (0: skip)")
    p.add_argument("--mfu-batches", type=lambda v: [int(b) for b in v.split(",")], default=[64, 128, 256, 512])
    p.add_argument("--mfu-videos", type=int, default=20)
    p.add_argument("--compile", action="store_true", help="also time a torch.compile'd DINO (model MFU)")
    p.add_argument("--bpe", default=None, help="open_clip's bpe_simple_vocab_16e6.txt.gz (tokenizer)")
    p.add_argument("--head", default="", help="LAION sa_0_4_vit_l_14_linear.pth")
    p.add_argument("--hf-home", default="", help="cache to install the random models into (default: temp)")
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny models, 2 sets of 3 frames")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    if args.tiny:
        args.device, args.size, args.videos, args.shots, args.frames = "cpu", "tiny", 4, 2, 3
        args.height, args.width, args.batch_size, args.window, args.naive_videos = 64, 80, 4, 2, 2
        args.compare_sets, args.mfu_batches, args.mfu_videos = 1, [4], 2
    return args


def main(argv=None) -> int:
    args = parse(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hf_home = args.hf_home or tempfile.mkdtemp(prefix="evalkit-bench-hf-")
    os.environ["HF_HOME"] = hf_home
    import torch
    import transformers

    from evalkit.cases import MultiShotCase
    from evalkit.features.base import FeatureContext, load_backend
    from evalkit.features.clip import ClipBackend
    from evalkit.features.clipseg import ClipSegBackend
    from evalkit.features.embedding import FrameEmbedder
    from evalkit.registry import METRICS
    from evalkit.testing.random_models import install_random_models

    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    report = {"argv": sys.argv, "device": args.device, "gpu": gpu, "dtype": args.dtype, "size": args.size,
              "batch_size": args.batch_size, "torch": torch.__version__, "transformers": transformers.__version__,
              "python": platform.python_version()}
    t0 = time.perf_counter()
    install_random_models(hf_home, MODEL_IDS, size=args.size, bpe_path=args.bpe)
    if not args.head:  # a random LAION head of the real shape (768 -> 1)
        args.head = str(Path(hf_home) / "sa_0_4_vit_l_14_linear.pth")
        torch.save(torch.nn.Linear(768, 1).state_dict(), args.head)
    report["install_s"] = time.perf_counter() - t0

    n_sets = args.videos // args.shots
    if n_sets < 1:
        raise SystemExit(f"--videos {args.videos}: at least --shots ({args.shots}) videos make one set")
    vids = list(make_videos(n_sets * (args.shots + 1), args.frames, args.height, args.width, seed=0))
    sets = []
    for s in range(n_sets):
        group = vids[s * (args.shots + 1):(s + 1) * (args.shots + 1)]
        case = MultiShotCase(f"set{s}", "a person", tuple(f"a person walking, shot {k}" for k in range(args.shots)))
        sets.append((case, group[0], group[1:]))
    for _, src, shots in sets:  # content hashes are part of any real run's cost, but precompute once
        src.fingerprint(), [v.fingerprint() for v in shots]

    def metric_objects(dtype):
        ms = [METRICS.get(n)(dtype=dtype, **({"head": args.head} if n == "aesthetic-quality" else {}))
              for n in METRIC_SET]
        return ms, METRICS.get("identity-leakage")(dtype=dtype)

    class Ctx(FeatureContext):  # the run's batch size for every backend
        def backend(self, name, dtype=None, **options):
            return load_backend(name, self.device, dtype or self.dtype, batch_size=args.batch_size, **options)

    metrics, leak = metric_objects(args.dtype)
    t0 = time.perf_counter()
    run_metrics(sets[:1], Ctx(args.device, max_items=4096), metrics, leak)  # loads and warm-up, one set
    report["load_and_warmup_s"] = time.perf_counter() - t0
    n_frames = n_sets * args.shots * args.frames

    timer = StageTimer(args.device)
    for cls, method in ((FrameEmbedder, "embed_videos"), (ClipBackend, "embed_texts"), (ClipSegBackend, "saliency")):
        timer.wrap(cls, method, method)
    ctx = Ctx(args.device, max_items=4096)
    metric_s = {}
    sync(args.device)
    t0 = time.perf_counter()
    timer.active = True
    shared_values = run_metrics(sets, ctx, metrics, leak, metric_s)
    timer.active = False
    sync(args.device)
    shared_s = time.perf_counter() - t0
    report["shared_breakdown_s"] = {"by_backend_call": timer.seconds, "by_metric": metric_s}
    report["shared"] = {"videos": n_sets * args.shots, "frames": n_frames, "seconds": shared_s,
                        "frames_per_s": n_frames / shared_s, "feature_hits": ctx.hits, "feature_misses": ctx.misses}
    print(f"shared: {n_frames} frames in {shared_s:.1f} s = {n_frames / shared_s:.1f} frames/s", flush=True)

    if args.window:
        ctx = Ctx(args.device, max_items=4096)
        sync(args.device)
        t0 = time.perf_counter()
        collected = run_metrics(sets, ctx, metrics, leak, window=args.window)
        sync(args.device)
        seconds = time.perf_counter() - t0
        report["collected"] = {"window_sets": args.window, "seconds": seconds, "frames_per_s": n_frames / seconds,
                               "batched_calls": ctx.batched_calls, "uploads": ctx.uploads,
                               "max_abs_diff_vs_shared": max_differences(shared_values, collected)}
        print(f"collected: {n_frames / seconds:.1f} frames/s", flush=True)

    if args.compare_sets and args.dtype != "float32":
        fp32 = run_metrics(sets[:args.compare_sets], Ctx(args.device, max_items=4096), *metric_objects("float32"))
        report["max_abs_diff_vs_float32"] = {"sets": args.compare_sets, **max_differences(fp32, shared_values)}

    if args.naive_videos > 0:
        naive_sets = sets[:max(1, args.naive_videos // args.shots)]
        sync(args.device)
        t0 = time.perf_counter()
        naive_values = run_metrics(naive_sets, naive_context(args.device), metrics, leak)
        sync(args.device)
        naive_s = time.perf_counter() - t0
        n_naive = len(naive_sets) * args.shots * args.frames
        report["naive"] = {"videos": len(naive_sets) * args.shots, "frames": n_naive, "seconds": naive_s,
                           "frames_per_s": n_naive / naive_s}
        report["speedup"] = report["shared"]["frames_per_s"] / report["naive"]["frames_per_s"]
        print(f"naive: {n_naive / naive_s:.1f} frames/s; speedup x{report['speedup']:.1f}", flush=True)
        report["max_abs_diff_naive_vs_shared"] = max_differences(naive_values, shared_values)

    report["dino_mfu"] = dino_mfu(args, peak_tflops(gpu, args.dtype))
    if args.device.startswith("cuda"):
        report["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(report, indent=1, default=str), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
