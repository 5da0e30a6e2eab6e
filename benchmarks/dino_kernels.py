"""Where DINO ViT-B/16's device time goes: kernel time per kind, eager and compiled.

The model-FLOP utilisation that ``identity_metrics.py`` reports counts the architecture's
FLOPs against the datasheet peak. This splits the forward pass's kernel time (torch.profiler)
into matmuls, attention, normalisation, activation and other elementwise kernels, and gives
the matmuls' and attention's own FLOP rates, so a shortfall has a measured cause: matmuls
that run below peak, or time spent in memory-bound kernels between them.

One H200 (about 1 minute; random full-size weights through evalkit's loading path):
    python benchmarks/dino_kernels.py --device cuda --hf-home /tmp/dinohf --out $OUT/dino_kernels.json
CPU smoke test (tiny model; aten operator self time instead of kernels):
    python benchmarks/dino_kernels.py --tiny --device cpu
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: kernel (or aten operator) name fragments per kind, first match wins; lower case
KINDS = (
    ("attention", ("flash", "fmha", "attention", "softmax", "efficient")),
    ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "addmm", "aten::mm", "aten::bmm", "matmul", "conv")),
    ("normalisation", ("layer_norm", "layernorm")),
    ("activation", ("gelu",)),
    ("elementwise", ("elementwise", "vectorized", "add", "mul", "copy", "cat", "aten::to")),
)


def kind_of(name: str) -> str:
    low = name.lower()
    return next((kind for kind, parts in KINDS if any(p in low for p in parts)), "other")


def split_flops(config, height: int, width: int) -> dict[str, int]:
    """Per frame: the attention products (QKᵀ and AV, 4·n²·d per layer) and the rest (linear
    layers and the patch embedding), from the same count as evalkit.features.flops."""
    from evalkit.features.flops import vit_config_flops

    total = vit_config_flops(config, height, width)
    tokens = (height // config.patch_size) * (width // config.patch_size) + 1
    attention = 4 * tokens * tokens * config.hidden_size * config.num_hidden_layers
    return {"total": total, "attention": attention, "matmul": total - attention}


def profile(model, pix, device: str, reps: int) -> dict[str, float]:
    """Seconds per forward pass by kind: CUDA kernel time on a GPU, aten self time on a CPU."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.inference_mode(), torch_profile(activities=activities) as prof:
        for _ in range(reps):
            model(pixel_values=pix, interpolate_pos_encoding=True)
        if cuda:
            torch.cuda.synchronize()
    seconds: dict[str, float] = {}
    for evt in prof.events():
        if cuda:
            if evt.device_type != torch.autograd.DeviceType.CUDA:
                continue
            us = evt.device_time   # a kernel's own time
        else:
            if not evt.name.startswith("aten::"):
                continue
            us = evt.self_cpu_time_total
        kind = kind_of(evt.name)
        seconds[kind] = seconds.get(kind, 0.0) + us / 1e6 / reps
    return seconds


def timed(model, pix, device: str, reps: int) -> float:
    import torch

    with torch.inference_mode():
        for _ in range(2):
            model(pixel_values=pix, interpolate_pos_encoding=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            model(pixel_values=pix, interpolate_pos_encoding=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="default: cuda when there is one, else cpu")
    ap.add_argument("--dtype", default="bfloat16", choices=("float32", "tf32", "bfloat16"))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=720)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--compile", default="default,max-autotune-no-cudagraphs",
                    help="torch.compile modes to time too (comma-separated; empty: none)")
    ap.add_argument("--hf-home", default=None)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.tiny:
        args.batch, args.height, args.width, args.reps, args.compile = 4, 64, 96, 2, ""
    import tempfile

    hf_home = Path(args.hf_home or tempfile.mkdtemp(prefix="dino-kernels-"))
    os.environ.update({"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"})
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    from common import write_report
    from identity_metrics import peak_tflops

    from evalkit.features.base import load_backend
    from evalkit.testing.random_models import install_random_models

    install_random_models(hf_home, ["facebook/dino-vitb16"], size="tiny" if args.tiny else "full")
    dino = load_backend("dino-vitb16", args.device, args.dtype, batch_size=args.batch)
    h, w = dino.preprocess.output_size(args.height, args.width)
    frames = torch.randint(0, 256, (args.batch, args.height, args.width, 3), dtype=torch.uint8)
    pix = dino.preprocess(frames, args.device, dino.input_dtype)
    flops = split_flops(dino.model.config, h, w)
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    peak = peak_tflops(gpu, args.dtype)
    kinds = profile(dino.model, pix, args.device, args.reps)
    kernel_s = sum(kinds.values())
    report = {"command": " ".join(["dino_kernels.py"] + list(argv if argv is not None else sys.argv[1:])),
              "gpu": gpu, "torch": torch.__version__, "dtype": args.dtype, "batch": args.batch,
              "input": list(pix.shape), "gflop_per_frame": {k: v / 1e9 for k, v in flops.items()},
              "peak_tflops": peak, "kernel_s_per_pass": kernel_s,
              "share_of_kernel_time": {k: v / kernel_s for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
              "tflops_in_kernels": {k: args.batch * flops[k] / kinds[k] / 1e12
                                    for k in ("matmul", "attention") if kinds.get(k)},
              "passes": {}}
    modes = ["eager"] + [m for m in args.compile.split(",") if m]
    for mode in modes:
        model = dino.model if mode == "eager" else torch.compile(dino.model, mode=mode, dynamic=False)
        seconds = timed(model, pix, args.device, args.reps)
        row = {"seconds": seconds, "frames_per_s": args.batch / seconds,
               "tflops": args.batch * flops["total"] / seconds / 1e12}
        if peak:
            row["mfu"] = row["tflops"] / peak
        if mode != "eager":
            row["share_of_kernel_time"] = {k: v / sum(c.values()) for c in [profile(model, pix, args.device, 2)]
                                           for k, v in sorted(c.items(), key=lambda kv: -kv[1])}
        report["passes"][mode] = row
        print(json.dumps({mode: row}), flush=True)
    if peak:
        report["tflops_in_kernels"] = {k: {"tflops": v, "of_peak": v / peak}
                                       for k, v in report["tflops_in_kernels"].items()}
    print(json.dumps({k: report[k] for k in ("share_of_kernel_time", "tflops_in_kernels", "kernel_s_per_pass")}))
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
