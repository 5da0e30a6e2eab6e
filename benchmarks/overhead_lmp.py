"""Runtime and peak memory of LMP over its base model, CogVideoX-5B (LMP paper Sec. 5.1 setting).

Full-size architecture with random weights (timings are real, images are not): the CogVideoX-5B
transformer (42 blocks, 48 heads × 64, rotary positions; THUDM/CogVideoX-5b's config) and the
CogVideoX VAE, bf16, 480×720, 49 frames (a 24-frame source repeated ×2 + 1), CFG 6, DDIM
(v-prediction, zero terminal SNR). No text encoder: prompt embeddings are random tensors of the
real shape (1×226×4096) and the subject token positions are fixed (no tokenizer is built).

Measured in one process, after a 2-step warm-up of each path, as ``--repeats`` rounds of:
``vanilla`` inference, LMP without ASM (``asm=off``: reference row + FBDM + RMTM), LMP with ASM
(``asm=on``). LMP's three step windows keep the paper's shares of the schedule at any ``--steps``
(40, 45, 35 of 50 → FBDM 80 %, RMTM 90 %, ASM 70 %), so per-step ratios carry over to 50 steps.
VAE decoding is left out (``output_type="latent"``); the reference's VAE encode and FBDM's first
probe pass are in LMP's ``inversion``, ASM in ``optimization``. Ratios = LMP total / vanilla
inference, per round, and their median.

    python benchmarks/overhead_lmp.py --out lmp.json               # H200: ~4–5 min (20 steps)
    python benchmarks/overhead_lmp.py --steps 50 --out lmp50.json  # the paper's 50 steps: ~11 min
    python benchmarks/overhead_lmp.py --tiny --device cpu          # smoke test
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import generation_overhead as go  # noqa: E402  (tiny configs, the measurement)
from common import environment, random_source_case, release_device_memory  # noqa: E402

#: THUDM/CogVideoX-5b transformer/config.json where it differs from CogVideoXTransformer3DModel's defaults
COG5B = dict(num_attention_heads=48, num_layers=42, use_rotary_positional_embeddings=True)
COG_TINY_ROPE = dict(go.COG_TINY, attention_head_dim=16, use_rotary_positional_embeddings=True)  # rotary needs head dim 16+
SUBJECT_TOKENS = (1, 2)        # "a dog ..." style positions; the map they give is meaningless here
PAPER_WINDOWS = {"fbdm_steps": 40, "rmtm_steps": 45, "asm_steps": 35}   # of 50 steps (Sec. 5.1)


def build(tiny: bool, device: str):
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        pipe = go.cogvideox_pipeline(COG_TINY_ROPE if tiny else COG5B, dtype, tiny, snr_shift_scale=1.0)
    tr = pipe.transformer
    pipe.set_progress_bar_config(disable=True)
    emb_shape = (1, 226, tr.config.text_embed_dim)
    return pipe, emb_shape, dtype, sum(p.numel() for p in tr.parameters())


def generators(pipe, emb_shape, emb_dtype, device: str, **opts):
    """vanilla, LMP without ASM and LMP with ASM on one pipeline, with random prompt embeddings."""
    import torch

    from evalkit.generators.families.base import Embeds
    from evalkit.generators.methods.lmp.lmp import LMP
    from evalkit.registry import GENERATORS

    class BenchLMP(LMP):   # the pipeline has no tokenizer: fixed subject positions
        def subject_positions(self, case, prompt, text_length):
            return SUBJECT_TOKENS

    g = torch.Generator(device="cpu").manual_seed(1)
    embeds = {p: Embeds(torch.randn(emb_shape, generator=g).to(device, emb_dtype)) for p in ("target", "source", "")}
    steps = opts["steps"]
    windows = {k: max(1, round(v * steps / 50)) for k, v in PAPER_WINDOWS.items()}
    gens = {"vanilla": GENERATORS.get("vanilla")(backbone="cogvideox-5b", device=device, **opts),
            "lmp_no_asm": BenchLMP(backbone="cogvideox-5b", device=device, asm="off", **windows, **opts),
            "lmp": BenchLMP(backbone="cogvideox-5b", device=device, asm="on", **windows, **opts)}
    for gen in gens.values():
        gen.use_pipeline(pipe, embeds)
    return gens, windows


def bench(args) -> dict:

    device, tiny = args.device, args.tiny
    t0 = time.perf_counter()
    pipe, emb_shape, dtype, n_params = build(tiny, device)
    setup = time.perf_counter() - t0
    h, w = (32, 32) if tiny else (480, 720)
    src_frames = args.frames or (4 if tiny else 24)
    steps = args.steps or (3 if tiny else 20)
    num_frames = 2 * src_frames + 1
    case = random_source_case(src_frames, h, w, subject="cat", source_subject="dog")
    common = dict(height=h, width=w, dtype="bfloat16" if device.startswith("cuda") else "float32")
    res = {"model": "cogvideox-5b" + (" (tiny config)" if tiny else ""), "params": n_params, "height": h, "width": w,
           "num_frames": num_frames, "steps": steps, "setup_s": setup}
    warm, _ = generators(pipe, emb_shape, dtype, device, steps=2, num_frames=num_frames, **common)
    for gen in warm.values():      # kernels, allocator, the backward pass of ASM
        go.measure(gen, case, device)
    gens, res["windows"] = generators(pipe, emb_shape, dtype, device, steps=steps, num_frames=num_frames, **common)
    res["rounds"] = []
    for _ in range(max(1, args.repeats)):
        r = {name: go.measure(gen, case, device) for name, gen in gens.items()}
        base = r["vanilla"]["timings"]["inference"]
        for name in ("lmp_no_asm", "lmp"):
            r[name]["overhead"] = r[name]["total_s"] / base
            r[name]["inference_over_base"] = r[name]["timings"]["inference"] / base
            if r["vanilla"]["peak_memory_gib"]:
                r[name]["peak_memory_ratio"] = r[name]["peak_memory_gib"] / r["vanilla"]["peak_memory_gib"]
        res["rounds"].append(r)
        print(json.dumps(r), flush=True)
    for name in ("lmp_no_asm", "lmp"):
        for key in ("overhead", "inference_over_base", "peak_memory_ratio"):
            vals = [r[name][key] for r in res["rounds"] if key in r[name]]
            if vals:
                res[f"{name}_{key}"] = float(np.median(vals))
    res["peak_memory_gib"] = {n: max(r[n]["peak_memory_gib"] for r in res["rounds"]) for n in gens}
    del pipe, gens, warm
    release_device_memory(device)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=0, help="denoising steps (default 20 full size, 3 tiny)")
    ap.add_argument("--frames", type=int, default=0, help="source frames (24 → 49 generated)")
    ap.add_argument("--repeats", type=int, default=1, help="rounds of (vanilla, LMP w/o ASM, LMP)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    results = {"env": environment(args.device), "run": bench(args)}
    print(json.dumps(results["run"], indent=1), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
