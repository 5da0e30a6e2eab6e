"""Protocol warnings: an output that departs from what its case's protocol expects is scored
all the same, but the departure is said (in the preflight, the run summary, results.json and
the report), never left to a detail nobody reads.

A motion-transfer output is expected at its source's frame count, size and rate (what
``evalkit data export`` writes as ``expected``). The rate matters most: time-aligned metrics
pair the frames shown at the same instants, so the same frames tagged 24 fps instead of the
source's 8 compare a third of the clip; a rate outside ×0.5–×4 of the source's is warned about
(×2 is Motion by Queries' 2N+1 frames at twice the rate, App. A.1.1; ×4 leaves room for a
model's fixed higher rate), and so is an alignment that keeps fewer than half the frames of
either video (:data:`MIN_KEPT`: frames up to the last one compared).
"""
from __future__ import annotations

from dataclasses import dataclass

FPS_RATIO = (0.5, 4.0)   # accepted output fps / source fps
MIN_KEPT = 0.5           # time alignment: fewer of either video's frames kept is warned about


@dataclass(frozen=True)
class Facts:
    """What the protocol compares: frame count, rate and size of one video."""
    frames: int
    fps: float
    height: int
    width: int

    @classmethod
    def of(cls, video) -> "Facts":
        return cls(video.num_frames, float(video.fps), video.height, video.width)


def output_warnings(expected: Facts, output: Facts, what: str = "output") -> list[str]:
    """One line per way ``output`` departs from the ``expected`` (the source's) facts."""
    out = []
    ratio = output.fps / expected.fps
    if not FPS_RATIO[0] <= ratio <= FPS_RATIO[1]:
        out.append(f"{what} at {output.fps:g} fps is ×{ratio:.3g} the source's {expected.fps:g} fps (outside "
                   f"×{FPS_RATIO[0]:g}–×{FPS_RATIO[1]:g}): time-aligned metrics compare the frames shown at the "
                   f"same instants; is the fps tag right?")
    if output.frames != expected.frames:
        out.append(f"{what} has {output.frames} frames, the case expects {expected.frames} (the source's)")
    if (output.height, output.width) != (expected.height, expected.width):
        out.append(f"{what} is {output.height}x{output.width}, the case expects {expected.height}x{expected.width} "
                   f"(the source's; metrics resize it)")
    return out


def kept_warning(span: int, total: int, who: str) -> str | None:
    """The line for a time alignment that compares only the first ``span`` of ``who``'s
    ``total`` frames, when that is fewer than half of them."""
    if total and span < MIN_KEPT * total:
        return (f"time alignment compares only the first {span} of the {who}'s {total} frames (< {MIN_KEPT:.0%}): "
                f"the two videos' durations differ (check the fps)")
    return None
