"""V-Warper's costs on CogVideoX-5B (random weights, full size): the coarse stage's LoRA training
step (rank 128 on K, V, O of all 42 blocks + the subject token through T5-XXL) and the inference
overhead of the fine stage over the base model, measured in one process.

Built with random weights: ``CogVideoXTransformer3DModel`` of the 5B config (42 blocks, 48 heads ×
64, RoPE), T5-XXL encoder (24 layers, d 4096, gated-GELU), the CogVideoX VAE (tiled decode), the
5B's ``CogVideoXDDIMScheduler``; 480×720, 25 frames (7 latent frames, 9450 video tokens), CFG 6.

1. **Training**: ``CoarseTrainer`` on 3 random 480×720 reference images for ``--lora-steps``
   steps (batch 1); per-step wall time (CUDA-synchronised: the loss is read each step), the
   first 2 steps excluded as warm-up; peak memory of the whole run (after the models are built).
2. **Inference** (``output_type="latent"``: VAE decode excluded), each after a 2-step warm-up:
   the base model (no LoRA, no reference branch) — the LoRA-adapted model (``vwarper-coarse``,
   the trained LoRA + token) — V-Warper (LoRA + value warping with masks at steps 3–19 of
   ``--steps``, layers 20–29, match layer 12). V-Warper's ``inversion`` stage is the reference's
   VAE encode + DDIM inversion (one conditional pass per step); its ``inference`` runs the batch
   of 4 (two branches × CFG). Overheads are ratios to the base model's inference time.

    python benchmarks/overhead_vwarper.py --out vwarper.json          # GPU, full size (~3 min on one H200)
    python benchmarks/overhead_vwarper.py --tiny --device cpu        # smoke test
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment  # noqa: E402
from generation_overhead import measure  # noqa: E402  (CUDA-synchronised timings + peak memory of gen.run)

COG5B = dict(num_attention_heads=48, attention_head_dim=64, in_channels=16, out_channels=16, time_embed_dim=512,
             text_embed_dim=4096, num_layers=42, sample_width=90, sample_height=60, sample_frames=49, patch_size=2,
             temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=True)
COG_TINY = dict(COG5B, num_attention_heads=4, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=2,
                text_embed_dim=32, num_layers=2, sample_width=4, sample_height=4, sample_frames=9,
                max_text_seq_length=16)
T5XXL = dict(vocab_size=32128, d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24,
             feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, dropout_rate=0.0)
T5_TINY = dict(vocab_size=64, d_model=32, d_ff=37, d_kv=8, num_heads=4, num_layers=2, relative_attention_num_buckets=8)
VAE_TINY = dict(down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
                block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
                temporal_compression_ratio=4)


def tokenizer():
    """A T5-style unigram tokenizer built in memory (the benchmark needs token ids, not a vocabulary)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces = ["<pad>", "</s>", "<unk>", "▁"] + [chr(c) for c in range(97, 123)] + \
        ["▁a", "▁photo", "▁of", "▁dog", "▁runs", "▁on", "▁the", "▁beach"]
    tok = Tokenizer(models.Unigram([(p, 0.0 if i < 3 else -float(i)) for i, p in enumerate(pieces)], unk_id=2))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def build(tiny: bool, device: str):
    import torch

    from evalkit.compat import ensure_torchvision

    ensure_torchvision()
    import diffusers
    from transformers import T5Config, T5EncoderModel

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        tr = diffusers.CogVideoXTransformer3DModel(**(COG_TINY if tiny else COG5B))
        text = T5EncoderModel(T5Config(**(T5_TINY if tiny else T5XXL)))
        vae = diffusers.AutoencoderKLCogVideoX(**(VAE_TINY if tiny else {}))
    if dtype != torch.float32:
        tr, text, vae = tr.to(dtype), text.to(dtype), vae.to(dtype)
    sched = diffusers.CogVideoXDDIMScheduler(  # THUDM/CogVideoX-5b's scheduler config
        timestep_spacing="trailing", prediction_type="v_prediction", rescale_betas_zero_snr=True,
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, set_alpha_to_one=True,
        snr_shift_scale=1.0)
    pipe = diffusers.CogVideoXPipeline(tokenizer=tokenizer(), text_encoder=text.eval(), vae=vae.eval(),
                                       transformer=tr.eval(), scheduler=sched)
    if not tiny:
        vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    return pipe, sum(p.numel() for p in tr.parameters()), sum(p.numel() for p in text.parameters())


def reference_case(folder: Path, h: int, w: int):
    from PIL import Image

    from evalkit.cases import ImageFiles, PersonalizationCase

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(folder / f"{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8)).save(paths[-1])
    return PersonalizationCase("bench/00", "dog", "dog", "a sks dog runs on the beach", ImageFiles(tuple(paths)))


def bench_training(pipe, case, args, settings) -> tuple[dict, Path]:
    import torch

    from evalkit.generators.families import family_class
    from evalkit.generators.methods.vwarper.coarse_training import CoarseTrainer
    from evalkit.generators.training.artifact import CoarseArtifact

    family = family_class("cogvideox")(pipe, args.device)
    cuda = args.device.startswith("cuda")
    stamps: list[float] = []
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base_mem = torch.cuda.memory_allocated() if cuda else 0
    t0 = time.perf_counter()
    trainer = CoarseTrainer(family, case.reference_images.load(), "sks", "dog", settings, checkpoint_every=10**9,
                            progress=False, on_step=lambda step, loss: stamps.append(time.perf_counter()))
    meta = trainer.run(CoarseArtifact.for_key("bench", "0" * 16))
    steps = np.diff([t0] + stamps)[2:] if len(stamps) > 2 else np.diff([t0] + stamps)
    return {"rank": settings.rank, "steps": settings.steps, "height": settings.height, "width": settings.width,
            "step_s_median": float(np.median(steps)), "step_s_mean": float(np.mean(steps)),
            "run_s": time.perf_counter() - t0, "eval_loss_before": meta["eval_loss_before"],
            "eval_loss_after": meta["eval_loss_after"],
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
            "peak_over_models_gib": (torch.cuda.max_memory_allocated() - base_mem) / 2**30 if cuda else 0.0,
            "lora_params": int(sum(v.numel() for v in _lora_file(CoarseArtifact.for_key("bench", "0" * 16)).values()))
            }, CoarseArtifact.for_key("bench", "0" * 16).folder


def _lora_file(artifact) -> dict:
    from safetensors.torch import load_file

    return load_file(str(artifact.path(artifact.LORA)))


def bench_inference(pipe, case, args, lora: Path, h: int, w: int, frames: int, steps: int) -> dict:
    from evalkit.registry import GENERATORS

    common = dict(backbone="cogvideox-5b", device=args.device, height=h, width=w, num_frames=frames,
                  dtype="bfloat16" if args.device.startswith("cuda") else "float32")
    if args.tiny:
        common.update(match_layer=0, warp_layers="1")
    configs = {"base": ("vwarper-coarse", {"lora": "none"}), "coarse": ("vwarper-coarse", {"lora": str(lora)}),
               "vwarper": ("vwarper", {"lora": str(lora), "warp_steps": f"3-{min(19, steps - 1)}"})}
    gens = {}
    for key, (name, opts) in configs.items():
        warm = GENERATORS.get(name)(**common, **{**opts, "warp_steps": "1"} if key == "vwarper" else opts, steps=2)
        warm.use_pipeline(pipe)
        measure(warm, case, args.device)                         # warm-up: kernels, allocator
        gens[key] = GENERATORS.get(name)(**common, **opts, steps=steps)
        gens[key].use_pipeline(pipe)
    out = {key: measure(g, case, args.device) for key, g in gens.items()}
    base = out["base"]["timings"]["inference"]
    out["coarse_over_base"] = out["coarse"]["total_s"] / base
    out["vwarper_over_base"] = out["vwarper"]["total_s"] / base
    out["vwarper_inference_over_base"] = out["vwarper"]["timings"]["inference"] / base
    out["vwarper_inversion_over_base"] = out["vwarper"]["timings"].get("inversion", 0.0) / base
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=0, help="denoising steps (default 20; warping at 3..min(19, steps-1))")
    ap.add_argument("--frames", type=int, default=0, help="frames (default 25)")
    ap.add_argument("--lora-steps", type=int, default=0, help="training steps timed (default 12)")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    from evalkit.generators.methods.vwarper.coarse_training import CoarseSettings

    os.environ.setdefault("EVALKIT_CACHE", tempfile.mkdtemp(prefix="vwarper-bench-"))
    h, w = (32, 32) if args.tiny else (480, 720)
    frames, steps = args.frames or (9 if args.tiny else 25), args.steps or (4 if args.tiny else 20)
    settings = CoarseSettings(height=h, width=w, rank=4 if args.tiny else 128, steps=args.lora_steps or
                              (3 if args.tiny else 12), gradient_checkpointing=args.gradient_checkpointing)
    env = environment(args.device)
    t0 = time.perf_counter()
    pipe, n_tr, n_text = build(args.tiny, args.device)
    res = {"env": env, "setup_s": time.perf_counter() - t0, "transformer_params": n_tr, "text_encoder_params": n_text,
           "height": h, "width": w, "num_frames": frames, "steps": steps}
    with tempfile.TemporaryDirectory() as tmp:
        case = reference_case(Path(tmp), h, w)
        res["training"], lora = bench_training(pipe, case, args, settings)
        print(json.dumps({"training": res["training"]}), flush=True)
        res["inference"] = bench_inference(pipe, case, args, lora, h, w, frames, steps)
    print(json.dumps(res, indent=1), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
