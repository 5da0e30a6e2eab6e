"""Time alignment: how every metric that compares two videos pairs their frames.

Rule (``nearest-frame``): frame i of a video at f fps is shown at t = i/f, both videos
starting at t = 0. Over the common duration [0, min((N_s−1)/f_s, (N_g−1)/f_g)] the video
with the lower fps (the source on a tie) gives the timestamps: each of its frames in that
span. The other video gives, at each timestamp t, its nearest frame ⌊t·f + ½⌋ (halves round
up). Equal fps: both are cut to the shorter duration. Motion by Queries App. A.1.1 (N source
frames → 2N+1 generated frames at 2f fps): source frames 0…N−1 meet generated frames
0, 2, …, 2N−2, the frames at the same instants. Never by frame index alone: a generated clip
at twice the fps would have its first half compared with the whole source motion.

This is the ``time-aligned`` protocol, the default of every such metric; protocols that
follow another reference's frame handling (DiTFlow, DMT) are options of the metric.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..protocol import kept_warning
from ..video import Video

TIME_ALIGNED = "time-aligned"
RULE = ("nearest-frame: the lower-fps video's frames (source on a tie) over the common duration; "
        "the other video's nearest frame floor(t*fps + 1/2) at each of their timestamps t = i/fps")
_EPS = 1e-9  # float slack when comparing timestamps


@dataclass(frozen=True)
class TimeAlignment:
    """Which frames of the source and of the generated video meet, in time order."""
    source_frames: tuple[int, ...]
    generated_frames: tuple[int, ...]
    source_fps: float
    generated_fps: float
    source_total: int
    generated_total: int
    timeline: str  # "source" or "generated": whose timestamps are used

    @property
    def fps(self) -> float:
        """Frame rate of the aligned pair (the timeline video's)."""
        return self.source_fps if self.timeline == "source" else self.generated_fps

    @property
    def num_frames(self) -> int:
        return len(self.source_frames)

    def apply(self, source: Video, generated: Video) -> tuple[Video, Video]:
        """The two videos restricted to the aligned frames (unchanged objects where all frames
        are used, so their features stay shared with other metrics)."""
        return self._take(source, self.source_frames), self._take(generated, self.generated_frames)

    def _take(self, video: Video, frames: tuple[int, ...]) -> Video:
        if video.fps == self.fps and frames == tuple(range(len(frames))):  # a prefix: same time axis
            return video.truncate(len(frames))
        return video.with_frames(video.frames[list(frames)], fps=self.fps, note=f"at-times-of-{self.timeline}")

    def notes(self) -> list[str]:
        """One human-readable line per video that was resampled or cut."""
        out = []
        for name, frames, total, fps in (("source", self.source_frames, self.source_total, self.source_fps),
                                         ("generated", self.generated_frames, self.generated_total,
                                          self.generated_fps)):
            if len(frames) != total:
                out.append(f"time-aligned: {name} {total} frames @ {fps:g} fps -> {len(frames)} frames "
                           f"at the {self.timeline}'s timestamps ({self.fps:g} fps)")
        return out

    def warnings(self) -> list[str]:
        """A protocol warning per video whose compared span (up to its last frame used) holds fewer
        than half its frames: the other video ends much earlier. The higher-rate video's frames
        are skipped by design (MbQ's 2N+1 frames at 2f: every other one), so span, not count."""
        return [w for frames, total, who in ((self.source_frames, self.source_total, "source"),
                                             (self.generated_frames, self.generated_total, "generated video"))
                if frames and (w := kept_warning(max(frames) + 1, total, who))]

    def details(self) -> dict[str, Any]:
        """What was resampled, for a result's ``details``."""
        def side(frames, total, fps):
            return {"fps": fps, "frames": total, "used": list(frames)}
        return {"protocol": TIME_ALIGNED, "rule": RULE, "timeline": self.timeline,
                "duration_s": (self.num_frames - 1) / self.fps,
                "source": side(self.source_frames, self.source_total, self.source_fps),
                "generated": side(self.generated_frames, self.generated_total, self.generated_fps)}


def nearest_frames(times: np.ndarray, fps: float, num_frames: int) -> tuple[int, ...]:
    """Index of the frame shown nearest to each time (halves round up), within the video."""
    return tuple(min(num_frames - 1, int(math.floor(t * fps + 0.5 + _EPS))) for t in times)


def align_in_time(source: Video, generated: Video) -> TimeAlignment:
    """Pair the frames of ``source`` and ``generated`` by their timestamps (module rule)."""
    return align_counts(source.num_frames, source.fps, generated.num_frames, generated.fps)


def align_counts(source_frames: int, source_fps: float, generated_frames: int, generated_fps: float) -> TimeAlignment:
    """The module rule on frame counts and rates alone (what a preflight knows before decoding)."""
    end = min((source_frames - 1) / source_fps, (generated_frames - 1) / generated_fps)
    timeline = "source" if source_fps <= generated_fps else "generated"
    (base_n, base_fps), (other_n, other_fps) = (((source_frames, source_fps), (generated_frames, generated_fps))
                                                if timeline == "source" else
                                                ((generated_frames, generated_fps), (source_frames, source_fps)))
    count = int(math.floor(end * base_fps + _EPS)) + 1
    base = tuple(range(count))
    other = nearest_frames(np.arange(count) / base_fps, other_fps, other_n)
    src, gen = (base, other) if timeline == "source" else (other, base)
    return TimeAlignment(src, gen, source_fps, generated_fps, source_frames, generated_frames, timeline)
