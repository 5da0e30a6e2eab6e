"""Generation overhead of Motion by Queries over its base model (paper Table 2: ×1.2 for VC2).

Full-size architectures with random weights (timings are real, images are not):
- Wan2.1-T2V-1.3B transformer (30 blocks, 12 heads × 128, ffn 8960) + the Wan VAE, 480×832,
  81 frames (source of 40 frames → 2·40+1 = 81, App. A.1.1), 50 FlowMatchEuler steps, CFG 5;
- CogVideoX-2B transformer (30 blocks, 30 heads × 64) + its VAE, 480×720, 49 frames (24 → 49), 50 steps, CFG 6.
The text encoders are not built (UMT5-XXL / T5-XXL with random weights would only add load time):
prompt embeddings are cached random tensors of the real shapes (Wan 1×512×4096, CogVideoX
1×226×4096), which is what the generators' prompt cache holds after the first case.

Measured in one process, after a 2-step warm-up of both, as ``--repeats`` pairs of: base model
(``vanilla``) inference, then MbQ recording (VAE encode of the source + one recording pass) and MbQ inference
(Q injected for the paper's fraction of steps). VAE decoding is left out of every figure
(``output_type="latent"``); the source's VAE encode is included in MbQ's recording time.

    python benchmarks/generation_overhead.py --out results.json            # GPU, full size
    python benchmarks/generation_overhead.py --tiny --device cpu           # smoke test
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

from common import environment, random_source_case, release_device_memory, run_models  # noqa: E402

WAN_FULL = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
WAN_TINY = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
                out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=30, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
WAN_VAE_TINY = dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                    temperal_downsample=[False, True, True])
COG_TINY = dict(num_attention_heads=4, attention_head_dim=8, in_channels=4, out_channels=4, time_embed_dim=2,
                text_embed_dim=32, num_layers=2, sample_width=4, sample_height=4, sample_frames=9, patch_size=2,
                temporal_compression_ratio=4, max_text_seq_length=16)
COG_VAE_TINY = dict(in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
                    up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
                    layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)


def cogvideox_pipeline(transformer_config: dict, dtype, tiny: bool, snr_shift_scale: float = 3.0):
    """CogVideoX without text encoder: the transformer of ``transformer_config`` (diffusers' defaults
    are 2B), its VAE (tiled at full size) and the release's DDIM schedule (``snr_shift_scale``: 3.0
    in THUDM/CogVideoX-2b's scheduler config, 1.0 in CogVideoX-5b's)."""
    import diffusers

    tr = diffusers.CogVideoXTransformer3DModel(**transformer_config).to(dtype)
    vae = diffusers.AutoencoderKLCogVideoX(**(COG_VAE_TINY if tiny else {})).to(dtype)
    sched = diffusers.CogVideoXDDIMScheduler(
        timestep_spacing="trailing", prediction_type="v_prediction", rescale_betas_zero_snr=True,
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
        set_alpha_to_one=True, snr_shift_scale=snr_shift_scale)
    if not tiny:
        vae.enable_tiling()
    return diffusers.CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=tr, scheduler=sched)


def build(model: str, tiny: bool, device: str):
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    import diffusers

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        if model == "wan2.1-1.3b":
            tr = diffusers.WanTransformer3DModel(**(WAN_TINY if tiny else WAN_FULL)).to(dtype)
            vae = diffusers.AutoencoderKLWan(**(WAN_VAE_TINY if tiny else {})).to(torch.float32)
            pipe = diffusers.WanPipeline(tokenizer=None, text_encoder=None, transformer=tr, vae=vae,
                                         scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0))
            emb_shape = (1, 512, 32 if tiny else 4096)
        else:
            pipe = cogvideox_pipeline(COG_TINY if tiny else {}, dtype, tiny)
            tr = pipe.transformer
            emb_shape = (1, 16 if tiny else 226, 32 if tiny else 4096)
    keep = set(getattr(tr, "_keep_in_fp32_modules", None) or [])
    for name, p in tr.named_parameters():  # as from_pretrained(torch_dtype=bf16) keeps them
        if keep & set(name.split(".")):
            p.data = p.data.float()
    pipe.set_progress_bar_config(disable=True)
    n_params = sum(p.numel() for p in tr.parameters())
    return pipe, emb_shape, dtype, n_params


#: the run extras the MbQ benchmarks keep next to the timings
MBQ_EXTRAS = ("injected_steps", "recorded_bytes", "recorded_tensors", "recorded_at_steps", "recording_detail_s")


def make_generator(name: str, model: str, pipe, emb_shape, emb_dtype, device: str,
                   prompts=("target", "source", ""), load: bool = False, **opts):
    """Generator ``name`` on the pipeline built above, with random prompt embeddings of the real
    shape for ``prompts`` (no text encoders); ``load``: run its load stage now, outside the timings."""
    import torch

    from evalkit.generators.families.base import Embeds
    from evalkit.registry import GENERATORS

    gen = GENERATORS.get(name)(backbone=model, device=device, **opts)
    g = torch.Generator(device="cpu").manual_seed(1)
    gen.use_pipeline(pipe, {prompt: Embeds(torch.randn(emb_shape, generator=g).to(device, emb_dtype))
                            for prompt in prompts})
    if load:
        gen.load()
    return gen


def measure(gen, case, device: str, keep=MBQ_EXTRAS) -> dict:
    """One ``gen.run`` of ``case`` (latents out): CUDA-synchronised stage timings, wall time, peak
    memory, and the run extras named in ``keep``."""
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    run = gen.run(case, seed=0, output_type="latent")
    timings, extras = run.timings, run.extras
    wall = time.perf_counter() - t0
    out = {"timings": timings, "wall_s": wall, "total_s": sum(timings.values()),
           "peak_memory_gib": (torch.cuda.max_memory_allocated() / 2**30) if cuda else 0.0}
    out.update({k: v for k, v in extras.items() if k in keep})
    if "recorded_bytes" in out:
        out["recorded_gib"] = out["recorded_bytes"] / 2**30
    return out


def pair(v: dict, m: dict) -> dict:
    """One (base, MbQ) pair of one seed; the ratios are within the pair."""
    rec = m.get("recording_detail_s", {})
    base = v["timings"]["inference"]
    return {"vanilla": v, "mbq": m, "overhead": m["total_s"] / base,
            "overhead_without_vae_encode": (m["total_s"] - rec.get("vae_encode", 0.0)) / base,
            "mbq_inference_over_base": m["timings"]["inference"] / base,
            "recorded_here": m["timings"].get("inversion", 0.0) > 0.01 * base}


def summarize(pairs: list[dict]) -> dict:
    """The pairs are the seeds of one run: MbQ's recording is made for the first and served from the
    recording cache to the others, so the first pair is one video's overhead, the later pairs are
    the cached case, and the sum over all pairs is the per-video overhead of a k-seed run."""
    later = pairs[1:]
    return {"overhead_first_video": pairs[0]["overhead"],
            "overhead_recording_cached": float(np.median([p["overhead"] for p in later])) if later else None,
            "overhead_per_video_k_seeds": (sum(p["mbq"]["total_s"] for p in pairs)
                                           / sum(p["vanilla"]["timings"]["inference"] for p in pairs)),
            "k_seeds": len(pairs),
            "mbq_inference_over_base": float(np.median([p["mbq_inference_over_base"] for p in pairs]))}


def mbq_pairs(model: str, pipe, emb_shape, dtype, device: str, case, steps: int, num_frames: int, common: dict,
              repeats: int, check=None) -> dict:
    """A 2-step warm-up of both paths (kernels, allocator; ``check(name, generator)`` after each
    binding), then ``repeats`` (base, MbQ) pairs in alternation, ratios within each pair."""
    for name in ("vanilla", "mbq"):
        g = make_generator(name, model, pipe, emb_shape, dtype, device, steps=2, num_frames=num_frames, **common)
        if check:
            check(name, g)
        measure(g, case, device)
    van = make_generator("vanilla", model, pipe, emb_shape, dtype, device, steps=steps, num_frames=num_frames,
                         **common)
    mbq = make_generator("mbq", model, pipe, emb_shape, dtype, device, steps=steps, **common)
    pairs = []
    for _ in range(max(1, repeats)):
        pairs.append(pair(measure(van, case, device), measure(mbq, case, device)))
        print(json.dumps({model: pairs[-1]}), flush=True)
    return {"pairs": pairs, **summarize(pairs)}


def bench(model: str, args) -> dict:

    device = args.device
    t0 = time.perf_counter()
    pipe, emb_shape, dtype, n_params = build(model, args.tiny, device)
    setup = time.perf_counter() - t0
    if args.tiny:
        h, w, src_frames, steps = 32, 32, 4, args.steps or 3
    elif model == "wan2.1-1.3b":
        h, w, src_frames, steps = 480, 832, args.wan_source_frames, args.steps or 50
    else:
        h, w, src_frames, steps = 480, 720, 24, args.steps or 50
    num_frames = 2 * src_frames + 1  # App. A.1.1 frame repetition
    case = random_source_case(src_frames, h, w)
    common = dict(height=h, width=w, dtype="bfloat16" if device.startswith("cuda") else "float32")
    res = {"model": model, "params": n_params, "height": h, "width": w, "num_frames": num_frames, "steps": steps,
           "setup_s": setup}
    res.update(mbq_pairs(model, pipe, emb_shape, dtype, device, case, steps, num_frames, common, args.repeats))
    del pipe
    release_device_memory(device)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="wan2.1-1.3b,cogvideox-2b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--wan-source-frames", type=int, default=40)  # → 81 frames
    ap.add_argument("--repeats", type=int, default=1,
                    help="(base, MbQ) pairs = seeds of one run: MbQ records for the first, the others hit its cache")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    run_models(args.models.split(","), lambda model: bench(model, args), {"env": environment(args.device)}, args.out)


if __name__ == "__main__":
    main()
