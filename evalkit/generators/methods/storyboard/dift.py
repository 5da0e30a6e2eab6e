"""DIFT features of a generation: a decoder block's output at one timestep (Tang et al. 2023, as
ConsiStory uses them for its feature-injection correspondences).

ConsiStory takes the U-Net's ``up_blocks[1]`` output at t = 261 (DIFT's up_ft_index 1), which for
VideoCrafter2's 320×512 videos is the 20×32 grid of the refinement-injection layers (MbQ App.
B.14's "32×20 self-attention layers"); lvdm's U-Net (VideoCrafter2) names that block
``output_blocks.5`` (the family's ``decoder_block(1)``). On a DiT, every block has one resolution;
we take the middle block's output (our choice: named in docs/generators/storyboard.md).
:class:`DiftCapture` is a forward hook that keeps the conditional rows of that module's output at the chosen step, as
``[shots, frames, tokens per frame, channels]``.
"""
from __future__ import annotations

from typing import Any, Callable

from evalkit.errors import EvalkitError
from evalkit.generators.attention.frames import FrameLayout

#: ConsiStory's DIFT timestep
DIFT_TIMESTEP = 261


def default_dift_module(family, layers: list[str]) -> str:
    """U-Net: the second decoder level's block (with its upsampler) as the family names it
    (diffusers' ``up_blocks.1``, lvdm's last ``output_blocks`` of that level); DiT: the block holding
    the middle controlled self-attention layer."""
    if family.architecture == "unet":
        return family.decoder_block(1)
    if not layers:
        raise EvalkitError("DIFT: the model has no controllable self-attention layers")
    return layers[len(layers) // 2].rsplit(".", 1)[0]


class DiftCapture:
    """``with DiftCapture(model, module, layout, cfg, at_step, step):`` then ``.features``."""

    def __init__(self, model, module: str, layout: FrameLayout, cfg: str, at_step: int,
                 step: Callable[[], int]) -> None:
        try:
            self.module = model.get_submodule(module)
        except AttributeError:
            raise EvalkitError(f"DIFT: the denoiser has no module {module!r}") from None
        self.layout, self.cfg, self.at_step, self.step = layout, cfg, at_step, step
        self.features: Any = None

    def __enter__(self) -> "DiftCapture":
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()

    def _hook(self, module, args, output) -> None:
        if self.step() != self.at_step or self.features is not None:   # sequential CFG: the first call is cond
            return
        out = output[0] if isinstance(output, tuple) else output
        if out.ndim == 4:                                                 # U-Net [rows, C, h, w] -> [rows, h·w, C]
            out = out.flatten(2).transpose(1, 2)
        if self.cfg == "batched":
            out = out[out.shape[0] // 2:]
        self.features = self.layout.to_frames(out.detach(), "BSHD").clone()


def gaussian_smooth(features, grid: tuple[int, int], kernel_size: int = 3, sigma: float = 1.0):
    """ConsiStory's smoothing of the DIFT features before matching (NVlabs/consistory
    ``consistory_run.py``: ``gaussian_smooth(x, kernel_size=3, sigma=1)`` of utils/general_utils.py):
    every channel of every frame, on its ``grid`` (h, w), convolved with the normalised 3×3 Gaussian,
    zero padding. ``features`` ``[shots, F, h·w, C]`` -> the same shape."""
    import torch
    import torch.nn.functional as F

    h, w = grid
    shots, frames, tokens, channels = features.shape
    if h * w != tokens:
        raise EvalkitError(f"DIFT smoothing: a {h}×{w} grid does not hold {tokens} tokens")
    r = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    kernel = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).to(features.device, features.dtype)
    x = features.permute(0, 1, 3, 2).reshape(shots * frames * channels, 1, h, w)
    y = F.conv2d(x, kernel[None, None], padding=kernel_size // 2)
    return y.reshape(shots, frames, channels, tokens).permute(0, 1, 3, 2).contiguous()
