"""Backbone facts: one row per text-to-video checkpoint.

A row says what the model is (pipeline class, hub id, family, native size, sampler defaults);
how a method uses it (Motion by Queries' injection fraction, blocks, frame repetition...) lives
with the method (e.g. :data:`evalkit.generators.methods.mbq.mbq.PAPER_SETTINGS`). The ``family`` names the
class in :mod:`evalkit.generators.families` that drives the pipeline's denoiser.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import EvalkitError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    pipeline: str            # diffusers pipeline class name, or "module:Class" with from_pretrained
    hub_id: str
    family: str              # a registered model family (evalkit.generators.families)
    height: int
    width: int
    num_frames: int
    fps: float
    steps: int = 50
    guidance_scale: float = 6.0
    scheduler: str | None = None    # scheduler class to use instead of the checkpoint's
    notes: str = ""


_VC2 = "evalkit.networks.videocrafter2.pipeline"

BACKBONES: dict[str, BackboneSpec] = {s.name: s for s in (
    # MbQ App. A.1.1: Wan sampled with a 50-step FlowMatchEulerDiscreteScheduler (for every
    # generator, so vanilla and the methods share the schedule)
    BackboneSpec("wan2.1-1.3b", "WanPipeline", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "wan", 480, 832, 81, 16.0,
                 guidance_scale=5.0, scheduler="FlowMatchEulerDiscreteScheduler"),
    # the 14B: diffusers 0.42.1 WanPipeline example (pipeline_wan.py:54-73: 720×1280, 81 frames, guidance
    # 5.0, saved at 16 fps); FastVMT's release samples it at 480×832 (examples/wan_14b_text_to_video.py:80-81)
    BackboneSpec("wan2.1-14b", "WanPipeline", "Wan-AI/Wan2.1-T2V-14B-Diffusers", "wan", 720, 1280, 81, 16.0,
                 guidance_scale=5.0, scheduler="FlowMatchEulerDiscreteScheduler"),
    BackboneSpec("cogvideox-2b", "CogVideoXPipeline", "THUDM/CogVideoX-2b", "cogvideox", 480, 720, 49, 8.0,
                 guidance_scale=6.0),
    BackboneSpec("cogvideox-5b", "CogVideoXPipeline", "THUDM/CogVideoX-5b", "cogvideox", 480, 720, 49, 8.0,
                 guidance_scale=6.0),
    BackboneSpec("ltx-video", "LTXPipeline", "Lightricks/LTX-Video", "ltx", 480, 704, 161, 25.0,
                 guidance_scale=3.0),
    BackboneSpec("zeroscope", "TextToVideoSDPipeline", "cerspense/zeroscope_v2_576w", "unet", 320, 576, 24, 8.0,
                 guidance_scale=9.0),
    # evalkit's port (evalkit.networks.videocrafter2) of the official model.ckpt: scripts/run_text2video.sh
    # (320×512, 16 frames, 50 DDIM steps with η=1, CFG 12; frame-rate condition 28, saved at 10 fps)
    BackboneSpec("videocrafter2", f"{_VC2}:VideoCrafter2Pipeline", "VideoCrafter/VideoCrafter2", "videocrafter2",
                 320, 512, 16, 10.0, steps=50, guidance_scale=12.0),
    # VideoCrafter2 + the T2V-Turbo-v2 U-Net (unet_mg.pt): app.py defaults (8 steps, guidance 7.5 as an
    # embedding, 8 fps)
    BackboneSpec("t2v-turbo-v2", f"{_VC2}:T2VTurboV2Pipeline", "jiachenli-ucsb/T2V-Turbo-v2", "videocrafter2",
                 320, 512, 16, 8.0, steps=8, guidance_scale=7.5),
    # SD 1.5 (epiCRealism) + the v1-5-2 motion adapter, diffusers' AnimateDiff documentation setting
    BackboneSpec("animatediff", "evalkit.generators.families.animatediff:AnimateDiffWithAdapter",
                 "emilianJR/epiCRealism", "animatediff", 512, 512, 16, 8.0, steps=25, guidance_scale=7.5),
)}


def backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise EvalkitError(f"unknown backbone {name!r} (known: {', '.join(sorted(BACKBONES))})")
    return BACKBONES[name]


def supported_backbones(families) -> list[str]:
    """The backbones whose family is one of ``families`` (for errors that say what would run)."""
    return sorted(name for name, spec in BACKBONES.items() if spec.family in families)
