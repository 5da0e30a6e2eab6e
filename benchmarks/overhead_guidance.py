"""Runtime and peak memory of the optimisation-based motion transfer methods over their base model.

Full-size architectures with random weights (timings are real, images are not), measured in one
process per group, each method after a short warm-up, VAE decode left out (``output_type=
"latent"``); the source's VAE encode and every reference pass are included (stage ``inversion``).

- group ``dit`` (default; DiTFlow Table 1 / Sec. 5.1 timings): CogVideoX-2B (30 blocks, sin-cos
  positions: ``vanilla``, ``mbq``, ``ditflow``) and CogVideoX-5B (42 blocks × 48 heads, RoPE:
  ``vanilla``, ``ditflow``, ``smm``, ``moft``, ``motionclone``), 480×720, a 21-frame source
  (DiTFlow: "a 21-frame video"), 50 steps, CFG 6, the methods at their defaults (10 guided steps
  × 5 Adam steps, guidance block 15 / 20, KV injection in block 0); ``--methods`` chooses others
  (e.g. ``ditflow-rho``) for every model;
- group ``unet`` (Motion by Queries Table 2): ZeroScope's U-Net (UNet3DConditionModel default =
  ModelScope/ZeroScope config) + SD VAE, 320×576, 24 frames, 50 DDIM steps: ``vanilla``, ``mbq``,
  ``motionclone`` (U-Net form, the release's 300 steps), ``dmt`` (999-step DDIM inversion, 20 ×
  10 Adam steps, restart sampling); ``--models animatediff``:
  SD 1.5 U-Net + diffusers' default MotionAdapter, 512×512, 16 frames, 25 steps, ``vanilla`` and
  ``motionclone`` (300 steps): the base of Motion by Queries' MotionClone row.

Overhead = method total (inversion + optimization + inference) / base-model inference, as in
Motion by Queries Table 2. Text encoders are not built: prompt embeddings are random tensors of
the real shapes (T5-XXL 1×226×4096; OpenCLIP-H 1×77×1024), what the prompt cache holds.

    python benchmarks/overhead_guidance.py --out dit.json                 # GPU: ~6 min on one H200 (estimate)
    python benchmarks/overhead_guidance.py --group unet --out unet.json   # GPU: ~5 min on one H200 (estimate)
    python benchmarks/overhead_guidance.py --group unet --models animatediff --out ad.json    # ~3 min (estimate)
    python benchmarks/overhead_guidance.py --tiny --device cpu            # smoke test
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generation_overhead as go  # noqa: E402  (make_generator, measure: shared with the MbQ benchmark)
from common import environment, random_source_case, release_device_memory, run_models  # noqa: E402

COG_5B = dict(num_attention_heads=48, attention_head_dim=64, num_layers=42, use_rotary_positional_embeddings=True)
COG_TINY_5B = dict(go.COG_TINY, attention_head_dim=16, use_rotary_positional_embeddings=True)  # RoPE: 3 even parts
COG_TINY_2B = dict(go.COG_TINY, max_text_seq_length=226)   # sin-cos positions include the 226 text slots
UNET_TINY = dict(block_out_channels=(8, 16), layers_per_block=1, in_channels=4, out_channels=4,
                 down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                 up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=32, attention_head_dim=4,
                 norm_num_groups=4)
SD_VAE = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
              up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
              latent_channels=4, sample_size=768, scaling_factor=0.18215)
SD15_UNET = dict(cross_attention_dim=768, sample_size=64)   # UNet2DConditionModel defaults otherwise = SD 1.5
SD15_UNET_TINY = dict(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
                      down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                      up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                      attention_head_dim=4, norm_num_groups=4)
ADAPTER_TINY = dict(block_out_channels=(8, 16), motion_layers_per_block=1, motion_norm_num_groups=4,
                    motion_num_attention_heads=2, motion_max_seq_length=32)
SD_VAE_TINY = dict(block_out_channels=(8, 8, 8), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4,
                   down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3)

# method label -> (registered generator, options at the paper's settings)
METHODS = {
    "dit": {"vanilla": ("vanilla", {}), "mbq": ("mbq", {"source_frame_repeat": 1}), "ditflow": ("ditflow", {}),
            "ditflow-rho": ("ditflow", {"optimise": "positional"}), "smm": ("smm", {}), "moft": ("moft", {}),
            "motionclone": ("motionclone", {})},
    "unet": {"vanilla": ("vanilla", {}), "mbq": ("mbq", {}), "motionclone": ("motionclone", {"steps": 300}),
             "dmt": ("dmt", {})},
}
#: per model: DiTFlow's own timings are of 2B and 5B (Sec. 5.1), its Table 1 baselines are timed on 5B,
#: Motion by Queries next to them on 2B (its CogVideoX-2B figure at 49 frames is in docs/performance.md)
DEFAULT_METHODS = {"cogvideox-2b": "vanilla,mbq,ditflow", "cogvideox-5b": "vanilla,ditflow,smm,moft,motionclone",
                   "zeroscope": "vanilla,mbq,motionclone,dmt", "animatediff": "vanilla,motionclone"}
GUIDED = ("ditflow", "smm", "moft", "motionclone", "dmt")
MODELS = {"dit": "cogvideox-2b,cogvideox-5b", "unet": "zeroscope"}   # unet also: animatediff (--models)


def build(model: str, tiny: bool, device: str):
    """(pipeline, prompt-embedding shape, dtype, transformer/U-Net parameter count) of random weights."""
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    import diffusers

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        if model.startswith("cogvideox"):
            five = model == "cogvideox-5b"
            cfg = (COG_TINY_5B if five else COG_TINY_2B) if tiny else (COG_5B if five else {})
            pipe = go.cogvideox_pipeline(cfg, dtype, tiny, snr_shift_scale=1.0 if five else 3.0)
            net = pipe.transformer
            emb_shape = (1, 226, 32 if tiny else 4096)
        elif model == "animatediff":  # SD 1.5 U-Net + diffusers' default MotionAdapter (MotionClone's base)
            unet = diffusers.UNet2DConditionModel(**(SD15_UNET_TINY if tiny else SD15_UNET))
            adapter = diffusers.MotionAdapter(**(ADAPTER_TINY if tiny else {}))
            vae = diffusers.AutoencoderKL(**(SD_VAE_TINY if tiny else SD_VAE))
            sched = diffusers.DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                                            clip_sample=False, timestep_spacing="linspace", steps_offset=1)
            pipe = diffusers.AnimateDiffPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet,
                                                 motion_adapter=adapter, scheduler=sched).to(device, dtype)
            net = pipe.unet
            emb_shape = (1, 77, 32 if tiny else 768)
        else:  # zeroscope
            net = diffusers.UNet3DConditionModel(**(UNET_TINY if tiny else {})).to(dtype)
            vae = diffusers.AutoencoderKL(**(SD_VAE_TINY if tiny else SD_VAE)).to(dtype)
            sched = diffusers.DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                            clip_sample=False, set_alpha_to_one=False, steps_offset=1)
            pipe = diffusers.TextToVideoSDPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=net,
                                                   scheduler=sched)
            emb_shape = (1, 77, 32 if tiny else 1024)
    pipe.set_progress_bar_config(disable=True)
    return pipe, emb_shape, dtype, sum(p.numel() for p in net.parameters())


def geometry(model: str, args) -> dict:
    if args.tiny:
        frames = args.frames or (9 if model.startswith("cog") else 4)
        return {"model": model, "height": 32, "width": 32, "frames": frames, "steps": args.steps or 5}
    if model.startswith("cogvideox"):
        return {"model": model, "height": 480, "width": 720, "frames": args.frames or 21,
                "steps": args.steps or 50}
    if model == "animatediff":
        return {"model": model, "height": 512, "width": 512, "frames": args.frames or 16, "steps": args.steps or 25}
    return {"model": model, "height": 320, "width": 576, "frames": args.frames or 24, "steps": args.steps or 50}


def options(name: str, opts: dict, geo: dict, args, warm_up: bool) -> dict:
    out = {"height": geo["height"], "width": geo["width"], "steps": geo["steps"],
           "dtype": "bfloat16" if args.device.startswith("cuda") else "float32", **opts}
    if args.steps or args.tiny:   # a shortened run shortens every method (MotionClone's 300 included)
        out["steps"] = geo["steps"]
    if name == "vanilla":
        out["num_frames"] = geo["frames"]
    if args.tiny and geo["model"].startswith("cogvideox") and name in ("ditflow", "smm", "moft", "motionclone"):
        out["blocks"] = 1     # the tiny transformers have 2 blocks (the papers' 15 / 20 do not exist)
    if warm_up:
        out["steps"] = 5      # one guided step at the default fractions, one update
        if name in GUIDED:
            out["opt_steps"] = 1
    if name == "dmt":         # short runs invert on the sampling grid itself (it passes through every t)
        out["inversion_steps"] = args.inversion_steps or (out["steps"] if (args.tiny or warm_up) else 999)
    return out


def bench(model: str, group: str, args) -> dict:

    t0 = time.perf_counter()
    pipe, emb_shape, dtype, n_params = build(model, args.tiny, args.device)
    geo = geometry(model, args)
    case = random_source_case(geo["frames"], geo["height"], geo["width"])
    res = {"params": n_params, **geo, "setup_s": time.perf_counter() - t0, "methods": {}}
    labels = [m for m in args.methods.split(",") if m] if args.methods else DEFAULT_METHODS[model].split(",")
    unknown = [m for m in labels if m not in METHODS[group]]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown} for group {group}: {sorted(METHODS[group])}")
    for label in labels:  # warm-up: kernels, allocator, autograd of every path
        name, opts = METHODS[group][label]
        gen = go.make_generator(name, model, pipe, emb_shape, dtype, args.device,
                                **options(name, opts, geo, args, warm_up=True))
        go.measure(gen, case, args.device)
    base = None
    for label in labels:
        name, opts = METHODS[group][label]
        gen = go.make_generator(name, model, pipe, emb_shape, dtype, args.device,
                                **options(name, opts, geo, args, warm_up=False))
        m = go.measure(gen, case, args.device)
        m["steps"] = int(gen.opt("steps"))
        if name != "vanilla" and hasattr(gen, "guided"):
            m["guided_steps"] = len(gen.guided())
        if label == "vanilla":
            base = m["timings"]["inference"]
        if base:
            m["overhead"] = m["total_s"] / base
        res["methods"][label] = m
        print(json.dumps({model: {label: m}}), flush=True)
    del pipe
    release_device_memory(args.device)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", default="dit", choices=sorted(METHODS))
    ap.add_argument("--models", default="", help="comma-separated; default: the group's models")
    ap.add_argument("--methods", default="", help=f"comma-separated, for every model; defaults: {DEFAULT_METHODS}")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=0, help="denoising steps of every method (0: the papers')")
    ap.add_argument("--frames", type=int, default=0, help="source frames (0: 21 for CogVideoX, 24 for ZeroScope)")
    ap.add_argument("--inversion-steps", type=int, default=0, help="DMT's DDIM inversion steps (0: 999)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    results = {"env": environment(args.device), "group": args.group, "argv": sys.argv[1:]}
    run_models((args.models or MODELS[args.group]).split(","), lambda model: bench(model, args.group, args), results,
               args.out)


if __name__ == "__main__":
    main()
