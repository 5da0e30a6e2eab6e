"""Motion by Queries' overhead on VideoCrafter2 and T2V-Turbo-v2 (paper Table 2: VC2 58 s -> 70 s, ×1.2, H100).

Full-size architectures with random weights (timings are real, images are not), evalkit's port
(evalkit.networks.videocrafter2):
- VideoCrafter2: the official U-Net (1.41 B parameters) + the LDM autoencoder (diffusers
  AutoencoderKL, SD config); 320×512 (the paper's Table 2 says 576×320: ``--width 576``),
  16 frames, 50 DDIM steps (η = 1), CFG 12 as two U-Net calls per step (100 passes).
  MbQ as App. A.1: VAE encode of the 16-frame source, the 2-step consistency pass, 20 recording
  passes (t = 1000…620, every spatial self-attention layer, conditional only), Q injected in the
  first 20 steps;
- T2V-Turbo-v2: the same U-Net with its guidance/motion embeddings, 8 consistency steps, one
  call per step; MbQ with VideoCrafter2's settings (40 %: 3 recorded/injected steps, 2-step
  consistency pass).
The text encoder is not built: prompt embeddings are cached random tensors of the real shape
(1×77×1024), what the generators' prompt cache holds after the first case.

Measured in one process, after a 2-step warm-up of both, as ``--repeats`` pairs of base model
(``vanilla``) inference then MbQ (recording + inference); VAE decoding is left out
(``output_type="latent"``; timed once apart as ``vae_decode_s``), the source's VAE encode is in
MbQ's recording time. Default run: both models, 2 pairs each (~2–3 min on one H200).

    python benchmarks/overhead_videocrafter2.py --out results.json          # GPU, full size
    python benchmarks/overhead_videocrafter2.py --tiny --device cpu         # smoke test
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment, random_source_case, release_device_memory, run_models  # noqa: E402
from generation_overhead import mbq_pairs  # noqa: E402

TINY_UNET = dict(model_channels=32, channel_mult=(1, 2), attention_resolutions=(1, 2), num_res_blocks=1,
                 num_head_channels=16, context_dim=64)
TINY_VAE = dict(block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4)
SD_VAE = dict(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
              up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
              scaling_factor=0.18215)


def build(model: str, tiny: bool, device: str):
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    from diffusers import AutoencoderKL

    from evalkit.networks.videocrafter2.config import OFFICIAL_CONFIG, TURBO_V2_UNET, diffusion_config, unet_config
    from evalkit.networks.videocrafter2.pipeline import T2VTurboV2Pipeline, VideoCrafter2Pipeline
    from evalkit.networks.videocrafter2.unet import UNetModel

    turbo = model == "t2v-turbo-v2"
    cls = T2VTurboV2Pipeline if turbo else VideoCrafter2Pipeline
    cfg = unet_config(OFFICIAL_CONFIG, **(TINY_UNET if tiny else {}), **(TURBO_V2_UNET if turbo else {}))
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    # built on the CPU, then moved: the first H200 run showed parameters left on the CPU when built
    # under a torch.device context
    unet = UNetModel(cfg).to(device=device, dtype=dtype).eval().requires_grad_(False)
    vae = AutoencoderKL(**(TINY_VAE if tiny else SD_VAE)).to(device=device, dtype=dtype).eval().requires_grad_(False)
    pipe = cls(unet, vae, None, None, cls.make_scheduler(diffusion_config(OFFICIAL_CONFIG)))
    pipe.device = torch.device(device)
    emb_shape = (1, 77, cfg.context_dim)
    return pipe, emb_shape, dtype, sum(p.numel() for p in unet.parameters())


def vae_decode_seconds(pipe, latents, device: str) -> float:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    pipe.decode(latents)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench(model: str, args) -> dict:
    import torch

    device = args.device
    t0 = time.perf_counter()
    pipe, emb_shape, dtype, n_params = build(model, args.tiny, device)
    setup = time.perf_counter() - t0
    h, w = (16, 16) if args.tiny else (args.height, args.width)
    frames = args.frames or (4 if args.tiny else 16)
    steps = args.steps or ((4 if model == "videocrafter2" else 2) if args.tiny else
                           (50 if model == "videocrafter2" else 8))
    case = random_source_case(frames, h, w)
    common = dict(height=h, width=w, dtype="bfloat16" if device.startswith("cuda") else "float32")
    res = {"model": model, "params": n_params, "height": h, "width": w, "num_frames": frames, "steps": steps,
           "setup_s": setup, "unet_calls_per_step": 2 if model == "videocrafter2" else 1}
    unet = pipe.unet

    def on_device(name, _generator) -> None:
        where = sorted({str(prm.device) for prm in unet.parameters()})
        if device.startswith("cuda") and not all(w.startswith("cuda") for w in where):
            raise RuntimeError(f"{name}: U-Net parameters on {where} after binding the pipeline, expected {device}")

    res.update(mbq_pairs(model, pipe, emb_shape, dtype, device, case, steps, frames, common, args.repeats, on_device))
    latents = torch.randn((1, 4, frames, h // pipe.vae_scale_factor, w // pipe.vae_scale_factor), device=device)
    res["vae_decode_s"] = vae_decode_seconds(pipe, latents, device)
    res["paper_table2"] = {"videocrafter2": {"base_infer_s": 58, "mbq_sum_s": 70, "overhead": 1.2,
                                             "device": "NVIDIA H100"}}.get(model)
    del pipe
    release_device_memory(device)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="videocrafter2,t2v-turbo-v2")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=0, help="0: the backbone's (VC2 50, Turbo 8)")
    ap.add_argument("--frames", type=int, default=0, help="source and generated frames (0: 16)")
    ap.add_argument("--height", type=int, default=320)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2,
                    help="(base, MbQ) pairs = seeds of one run: MbQ records for the first, the others hit its cache")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    run_models(args.models.split(","), lambda model: bench(model, args), {"env": environment(args.device)}, args.out)


if __name__ == "__main__":
    main()
