"""Video Storyboarding (5 shots) over its base model: runtime and peak memory, one process.

Full-size architectures with random weights (timings are real, images are not):
- ``videocrafter2`` (the paper's backbone and the default; evalkit's port, built by
  benchmarks/overhead_videocrafter2.py): the official U-Net (1.41 B) + the SD
  autoencoder, 320×512, 16 frames, DDIM η = 1, CFG 12 as two U-Net calls per step;
- ``zeroscope``: the ``UNet3DConditionModel`` default config (= ModelScope /
  zeroscope: 320-640-1280-1280, 1.4 B parameters) + the SD ``AutoencoderKL``, at VideoCrafter2's
  geometry 320×512, 16 frames, DDIM, CFG 12 (MbQ App. B.14) in one batched call;
- ``wan2.1-1.3b`` (optional, ``--models``): the real Wan2.1-1.3B transformer + VAE
  (benchmarks/generation_overhead.py's builder) at ``--frames`` frames (default 17: framewise SDSA
  on a DiT keeps a per-query mask, see docs/generators.md).
CLIPSeg for the subject masks is ``CLIPSegForImageSegmentation`` of the real rd64-refined config
with random weights, loaded by hub id from a temporary HF cache (the production path); its
tokenizer is a byte-level CLIP BPE (no merges: timing only). Text encoders are not built: prompt
embeddings are random tensors of the real shapes.

Per model, after a short warm-up of both: the base model (``vanilla``: the 5 shots as one batch)
then ``storyboard`` (3 passes: vanilla + Q cache, consistent + DIFT, consistent + refinement),
``--repeats`` pairs; VAE decoding of the outputs is left out (``output_type="latent"``), the
per-step x̂0 decodes for the masks are in (they are the method). Ratios are within each pair.
The default is 25 steps (the method's phases are set by timestep, so each phase keeps its share
of the schedule; ``--steps 50`` is the paper's schedule and takes about twice as long).

    python benchmarks/overhead_storyboard.py --out storyboard.json   # GPU; estimate ~4-6 min on one H200
    python benchmarks/overhead_storyboard.py --tiny --device cpu     # smoke test
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment, release_device_memory, run_models  # noqa: E402
from generation_overhead import make_generator  # noqa: E402
from generation_overhead import measure as measure_run  # noqa: E402

from evalkit.cases import MultiShotCase  # noqa: E402

SHOTS = tuple(f"A girl {s}, anime cartoon animation" for s in (
    "paddling out on her surfboard", "riding a huge wave at sunset", "jumping off a wooden pier into the sea",
    "running along the beach flying a red kite", "skateboarding down a seaside promenade"))
UNET_TINY = dict(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
                 down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                 up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=32, attention_head_dim=4,
                 norm_num_groups=4)
SD_VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=512,
              down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
VAE_TINY = dict(block_out_channels=(8, 8, 8), latent_channels=4, norm_num_groups=4, sample_size=32,
                down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3)


def install_clipseg(size: str) -> str:
    """Random CLIPSeg of the real config in a fresh HF cache (HF_HOME points at it); returns the folder."""
    from evalkit.testing.random_models import install_random_models

    home = tempfile.mkdtemp(prefix="evalkit-storyboard-bench-")
    bpe = Path(home) / "bpe_bytes.txt.gz"
    with gzip.open(bpe, "wt", encoding="utf-8") as f:
        f.write("#version: 0.2")          # no merges: a byte-level CLIP tokenizer
    install_random_models(home, ["CIDAS/clipseg-rd64-refined"], size=size, bpe_path=bpe)
    os.environ["HF_HOME"] = home
    os.environ.pop("HF_HUB_CACHE", None)
    return home


def build_unet(tiny: bool, device: str):
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    import diffusers

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        unet = diffusers.UNet3DConditionModel(**(UNET_TINY if tiny else {})).to(dtype)
        vae = diffusers.AutoencoderKL(**(VAE_TINY if tiny else SD_VAE)).to(dtype)
    sched = diffusers.DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                    clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = diffusers.TextToVideoSDPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    emb_shape = (1, 77, unet.config.cross_attention_dim)
    return pipe, emb_shape, dtype, sum(p.numel() for p in unet.parameters())


UNETS = ("zeroscope", "videocrafter2", "t2v-turbo-v2")


def build(model: str, tiny: bool, device: str):
    if model == "zeroscope":
        return build_unet(tiny, device)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if model in ("videocrafter2", "t2v-turbo-v2"):
        from overhead_videocrafter2 import build as build_vc2  # evalkit's port at full size

        return build_vc2(model, tiny, device)
    from generation_overhead import build as build_dit  # the real Wan / CogVideoX builders

    return build_dit(model, tiny, device)


#: Storyboarding's run extras kept next to the timings
KEEP = ("passes_s", "q_cache_bytes", "steps", "dift_step", "q_preserved", "q_flowed", "sdsa_calls",
        "refined_calls", "mask_subject_fraction", "mask_empty_frames")


def make(name: str, model: str, pipe, emb_shape, emb_dtype, device: str, **opts):
    """The generator on the shared pipeline, loaded (CLIPSeg for storyboard: its own stage, outside the timings)."""
    return make_generator(name, model, pipe, emb_shape, emb_dtype, device, prompts=SHOTS + ("",), load=True, **opts)


def measure(gen, case, device: str) -> dict:
    return measure_run(gen, case, device, keep=KEEP)


def bench(model: str, args) -> dict:

    device = args.device
    t0 = time.perf_counter()
    pipe, emb_shape, dtype, n_params = build(model, args.tiny, device)
    setup = time.perf_counter() - t0
    if args.tiny:
        h, w, frames = 32, 32, args.frames or (4 if model in UNETS else 9)
    elif model in UNETS:
        h, w, frames = 320, 512, args.frames or 16
    else:
        h, w, frames = 480, 832, args.frames or 17
    steps = args.steps or (5 if args.tiny else 25)
    case = MultiShotCase("bench", "a girl", SHOTS[: args.shots])
    common = dict(height=h, width=w, num_frames=frames, dtype="bfloat16" if device.startswith("cuda") else "float32")
    if model == "zeroscope":
        common["guidance_scale"] = 12.0   # VideoCrafter2's default (MbQ App. B.14)
    res = {"model": model, "params": n_params, "shots": args.shots, "height": h, "width": w, "num_frames": frames,
           "steps": steps, "setup_s": setup}
    for name in ("vanilla", "storyboard"):   # warm-up: kernels, allocator (5 steps: one SDSA step)
        measure(make(name, model, pipe, emb_shape, dtype, device, steps=5, **common), case, device)
    van = make("vanilla", model, pipe, emb_shape, dtype, device, steps=steps, **common)
    sb = make("storyboard", model, pipe, emb_shape, dtype, device, steps=steps, **common)
    res["pairs"] = []
    for _ in range(max(1, args.repeats)):
        v, s = measure(van, case, device), measure(sb, case, device)
        base = v["timings"]["inference"]
        passes = s.get("passes_s", {})
        res["pairs"].append({"vanilla": v, "storyboard": s, "overhead": s["total_s"] / base,
                             "final_pass_over_base": s["timings"]["inference"] / base,
                             "vanilla_pass_over_base": passes.get("vanilla_pass", 0.0) / base,
                             "dift_pass_over_base": passes.get("dift_pass", 0.0) / base,
                             "peak_memory_ratio": (s["peak_memory_gib"] / v["peak_memory_gib"]
                                                   if v["peak_memory_gib"] else 0.0)})
        print(json.dumps({model: res["pairs"][-1]}), flush=True)
    for key in ("overhead", "final_pass_over_base", "vanilla_pass_over_base", "dift_pass_over_base",
                "peak_memory_ratio"):
        res[key] = float(np.median([p[key] for p in res["pairs"]]))
    del pipe, van, sb
    release_device_memory(device)
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="videocrafter2", help="comma-separated: videocrafter2, t2v-turbo-v2, "
                    "zeroscope, wan2.1-1.3b, cogvideox-2b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--steps", type=int, default=0, help="0: 25 (5 with --tiny); 50 is the paper's")
    ap.add_argument("--frames", type=int, default=0, help="0: 16 on the U-Net, 17 on DiTs")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    home = install_clipseg("tiny" if args.tiny else "full")
    return run_models(args.models.split(","), lambda model: bench(model, args),
                      {"env": environment(args.device, hf_home=home)}, args.out)


if __name__ == "__main__":
    main()
