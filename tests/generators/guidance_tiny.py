"""Tiny pipelines and cases shared by the guidance-method tests (tests/generators/guidance/test_*.py,
test_<method>.py): a CogVideoX-2B-style transformer (additive 3D sin-cos positions instead of RoPE)
and a moving-square case large enough for several patches per frame."""
from __future__ import annotations

import tiny_pipelines as tp

from evalkit.cases import InlineVideo, MotionTransferCase
from evalkit.video import Video


def tiny_cogvideox_sincos():
    """tiny_pipelines.tiny_cogvideox with CogVideoX-2B's positional embedding (sin-cos, added in
    patch_embed; its text slots are the pipeline's 226)."""
    import torch
    from diffusers import CogVideoXTransformer3DModel

    pipe = tp.tiny_cogvideox()
    torch.manual_seed(0)
    pipe.transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=32, num_layers=2, sample_width=4, sample_height=4, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=False)
    return pipe


def square_case(case_id="c1", target="a cat runs", source="a dog runs", frames=9, size=48) -> MotionTransferCase:
    return MotionTransferCase(case_id, InlineVideo(Video(tp.moving_square(frames, (size, size)), 8.0, "src")),
                              target, source_prompt=source)
