"""Subject masks during denoising: CLIPSeg on the decoded x̂0, thresholded by Otsu (MbQ App. B.10).

"At each denoising step t, we estimate x̂0 ... apply a zero-shot segmentation approach (CLIPSeg)
to localize the subject in the estimated image, followed by Otsu's method to dynamically
threshold the mask." The saliency is :class:`~evalkit.features.clipseg.ClipSegBackend`'s
``sigmoid(logits)`` and the threshold :func:`~evalkit.features.masking.otsu_mask` (the same code
as the Set Consistency metric's masks). A frame whose saliency is constant gets an empty mask
(nothing of it is shared) and is counted in ``empty_frames`` with the first reason.

Attention layers see masks on their own token grids: :meth:`SubjectMasks.tokens` maps the pixel
masks to ``[shots, frames, h·w]`` — latent frames take the union of the pixel frames they encode
(the VAE's temporal factor; U-Net frames are pixel frames), and a token is subject when at least
half of its pixel area is (area interpolation ≥ 0.5).
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.generators.attention.frames import token_grid


class SubjectMasks:
    def __init__(self, segmenter, subject: str, decode: Callable[[Any], np.ndarray]) -> None:
        self.segmenter, self.subject, self.decode = segmenter, subject, decode
        self.pixel: dict[Hashable, np.ndarray] = {}       # key -> bool (shots, T, H, W)
        self._tokens: dict[tuple, Any] = {}
        self.empty_frames = 0
        self.first_empty_reason = ""

    # -- pixel masks ---------------------------------------------------------------------
    def masks_of_frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``(shots, T, H, W, 3)`` -> bool ``(shots, T, H, W)``: Otsu on CLIPSeg's saliency."""
        from evalkit.features.masking import otsu_mask

        n, t, h, w = frames.shape[:4]
        saliency = self.segmenter.saliency(frames.reshape(n * t, h, w, 3), self.subject)
        out = np.zeros((n * t, h, w), dtype=bool)
        for i, s in enumerate(saliency):
            mask, reason = otsu_mask(s, (h, w))
            if mask is None:
                self.empty_frames += 1
                self.first_empty_reason = self.first_empty_reason or f"shot {i // t} frame {i % t}: {reason}"
            else:
                out[i] = mask
        return out.reshape(n, t, h, w)

    def update(self, key: Hashable, x0) -> None:
        """Masks of the clean estimate ``x0`` (latents of all shots), stored under ``key``."""
        self.pixel[key] = self.masks_of_frames(self.decode(x0))

    # -- token masks ---------------------------------------------------------------------
    def tokens(self, key: Hashable, frames: int, per_frame: int, device):
        """bool ``[shots, frames, per_frame]`` on ``device`` for the masks under ``key`` (None if none)."""
        import torch

        if key not in self.pixel:
            return None
        cache = (key, frames, per_frame, str(device))
        if cache not in self._tokens:
            self._tokens[cache] = torch.from_numpy(downsample(self.pixel[key], frames, per_frame)).to(device)
        return self._tokens[cache]

    def subject_fraction(self) -> float:
        """Mean share of subject pixels over every stored mask (extras)."""
        return float(np.mean([m.mean() for m in self.pixel.values()])) if self.pixel else 0.0


def downsample(pixel: np.ndarray, frames: int, per_frame: int) -> np.ndarray:
    """bool ``(shots, T, H, W)`` -> bool ``(shots, frames, per_frame)`` on the token grid."""
    import cv2

    shots, t, h, w = pixel.shape
    if frames == t:
        groups = [[f] for f in range(t)]
    elif frames > 1 and (t - 1) % (frames - 1) == 0:
        step = (t - 1) // (frames - 1)   # the VAE's temporal factor: latent j encodes (j-1)·k+1 .. j·k
        groups = [[0]] + [list(range((j - 1) * step + 1, j * step + 1)) for j in range(1, frames)]
    else:
        raise EvalkitError(f"subject masks: {t} frames do not map onto {frames} latent frames")
    gh, gw = token_grid(per_frame, h, w)
    out = np.zeros((shots, frames, gh * gw), dtype=bool)
    for s in range(shots):
        for j, group in enumerate(groups):
            union = pixel[s, group].any(axis=0).astype(np.float32)
            out[s, j] = (cv2.resize(union, (gw, gh), interpolation=cv2.INTER_AREA) >= 0.5).reshape(-1)
    return out
