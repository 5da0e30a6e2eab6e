"""AnimateDiff (diffusers' ``AnimateDiffPipeline``: a Stable Diffusion 1.5 image U-Net plus a
``MotionAdapter``, ``UNetMotionModel``): the U-Net family's conventions (spatial ``attn1`` of
``…attentions.M.transformer_blocks.K``; the motion modules' attention is temporal and left
alone; frames as rows; per-frame VAE), with the modern ``callback_on_step_end``, the
scheduler stepping the 5-D latents directly and the text repeated per frame, as
``AnimateDiffPipeline`` does.

Loading (``AnimateDiffWithAdapter.from_pretrained``): a saved ``AnimateDiffPipeline`` folder
(with ``motion_adapter/``) loads as it is; a Stable Diffusion 1.5 folder gets the motion
adapter :data:`MOTION_ADAPTER_ID` and AnimateDiff's sampler (DDIM, linear betas 0.00085–0.012,
``linspace`` spacing, ``steps_offset=1``, no clipping: AnimateDiff's inference config, as in
diffusers' AnimateDiff documentation).
"""
from __future__ import annotations

from pathlib import Path

from . import FAMILIES
from .base import Embeds, Latents, ModelFamily
from .unet import UNetFamily

MOTION_ADAPTER_ID = "guoyww/animatediff-motion-adapter-v1-5-2"


class AnimateDiffWithAdapter:
    """``from_pretrained(path, torch_dtype)`` -> an ``AnimateDiffPipeline`` (see the module doc)."""

    @staticmethod
    def from_pretrained(path, torch_dtype=None):
        from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter

        from evalkit.weights import resolve_hf

        folder = Path(path)
        if (folder / "motion_adapter").is_dir():
            return AnimateDiffPipeline.from_pretrained(str(folder), torch_dtype=torch_dtype)
        adapter_dir = resolve_hf(MOTION_ADAPTER_ID, what="AnimateDiff motion adapter")
        adapter = MotionAdapter.from_pretrained(str(adapter_dir), torch_dtype=torch_dtype)
        pipe = AnimateDiffPipeline.from_pretrained(str(folder), motion_adapter=adapter, torch_dtype=torch_dtype)
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, beta_schedule="linear", clip_sample=False,
                                                   timestep_spacing="linspace", steps_offset=1)
        return pipe


@FAMILIES.register("animatediff")
class AnimateDiffFamily(UNetFamily):
    step_callback_kwargs = ModelFamily.step_callback_kwargs
    scheduler_step = ModelFamily.scheduler_step

    def denoise_once(self, latents: Latents, t, embeds: Embeds, *, grad: bool = False):
        # UNetMotionModel takes the text per frame (AnimateDiffPipeline repeats it before the call)
        per_frame = embeds.embeds.repeat_interleave(latents.tensor.shape[2], dim=0)
        return super().denoise_once(latents, t, Embeds(per_frame), grad=grad)
