"""The source frame-repetition rule of Motion by Queries App. A.1.1, implemented once.

"for motion transfer in WAN, we repeat each frame twice and pad the last frame one additional
time, therefore mapping 16→33 and 24→49. Accordingly, we double the frame rate of the
generated videos to keep the duration the same as in the source video."

Two callers share :func:`repeat_frames`: the dataset transform ``repeat:R:P`` / ``wan-frames``
(:mod:`evalkit.data.transforms`) and the injection generators' ``source_frame_repeat`` option
(:mod:`evalkit.generators.methods.mbq.mbq`). A repeated clip carries the note ``repeat:R:P`` in its
``origin``; repeating it again is an error, so following both the dataset docs and the method
defaults can never silently give 24 → 49 → 99 frames.
"""
from __future__ import annotations

import numpy as np

from .errors import InvalidInputError
from .video import Video

NOTE_PREFIX = "repeat:"


def repeat_note(repeat: int, pad_last: int) -> str:
    return f"{NOTE_PREFIX}{repeat}:{pad_last}"


def repeat_indices(num_frames: int, repeat: int, pad_last: int) -> np.ndarray:
    """Frame indices: each of ``num_frames`` frames ``repeat`` times, then the last ``pad_last`` more times."""
    if repeat < 1 or pad_last < 0:
        raise InvalidInputError(f"{repeat_note(repeat, pad_last)}: repeat must be >= 1, pad >= 0")
    idx = np.repeat(np.arange(num_frames), repeat)
    return np.concatenate([idx, np.full(pad_last, num_frames - 1, dtype=idx.dtype)])


def applied_repeat(video: Video) -> str | None:
    """The repetition note of a clip that was already repeated (its origin's notes), or None."""
    notes = video.origin.split("|")[1:]  # the first part names the source itself
    return next((n for n in notes if n.startswith(NOTE_PREFIX)), None)


def repeat_frames(video: Video, repeat: int, pad_last: int, *, item: str = "") -> Video:
    """``video`` with the rule applied (fps × ``repeat``); (1, 0) is the identity.

    Raises an error naming ``item`` (default: the clip's origin) when the clip was repeated before.
    """
    if (repeat, pad_last) == (1, 0):
        repeat_indices(video.num_frames, repeat, pad_last)  # validates
        return video
    done = applied_repeat(video)
    if done is not None:
        raise InvalidInputError(
            f"{item or video.origin}: the source is already frame-repeated ({done}, e.g. by the dataset "
            f"transform wan-frames); repeating it again ({repeat_note(repeat, pad_last)}) would give "
            f"{(video.num_frames) * repeat + pad_last} frames. Apply the rule once: drop the transform, "
            "or set the generator's source_frame_repeat=1")
    frames = video.frames[repeat_indices(video.num_frames, repeat, pad_last)]
    return video.with_frames(frames, fps=video.fps * repeat, note=repeat_note(repeat, pad_last))
