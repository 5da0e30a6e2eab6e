"""Time alignment of two videos: known frame pairings for the documented rule."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.metrics.time_alignment import TIME_ALIGNED, align_in_time
from evalkit.video import Video


def clip(n: int, fps: float) -> Video:
    """Frame i holds the value i everywhere, so a picked frame names itself."""
    return Video(np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 3)).copy(), fps)


def test_dit_rule_pairs_source_frames_with_every_second_generated_frame():
    source, generated = clip(12, 8.0), clip(25, 16.0)          # App. A.1.1: N -> 2N+1 at 2f
    a = align_in_time(source, generated)
    assert a.timeline == "source" and a.fps == 8.0
    assert a.source_frames == tuple(range(12)) and a.generated_frames == tuple(range(0, 24, 2))
    src, gen = a.apply(source, generated)
    assert src is source                                         # all its frames: the same object
    assert gen.fps == 8.0 and list(gen.frames[:, 0, 0, 0]) == list(range(0, 24, 2))
    assert a.notes() == ["time-aligned: generated 25 frames @ 16 fps -> 12 frames at the source's "
                         "timestamps (8 fps)"]
    d = a.details()
    assert d["protocol"] == TIME_ALIGNED and d["timeline"] == "source" and "nearest" in d["rule"]
    assert d["duration_s"] == pytest.approx(11 / 8)
    assert d["source"] == {"fps": 8.0, "frames": 12, "used": list(range(12))}
    assert d["generated"] == {"fps": 16.0, "frames": 25, "used": list(range(0, 24, 2))}


def test_equal_fps_is_truncation_to_the_shorter_video():
    source, generated = clip(10, 8.0), clip(7, 8.0)
    a = align_in_time(source, generated)
    assert a.source_frames == a.generated_frames == tuple(range(7))
    src, gen = a.apply(source, generated)
    assert gen is generated and src.num_frames == 7 and src.fps == 8.0
    assert a.notes() == ["time-aligned: source 10 frames @ 8 fps -> 7 frames at the source's timestamps (8 fps)"]


def test_lower_fps_generated_video_gives_the_timestamps_and_halves_round_up():
    source, generated = clip(10, 24.0), clip(7, 16.0)             # both last 0.375 s
    a = align_in_time(source, generated)
    assert a.timeline == "generated" and a.generated_frames == tuple(range(7))
    # t = i/16 -> source frame floor(1.5 i + 1/2): 0, 2 (1.5 rounds up), 3, 5, 6, 8, 9
    assert a.source_frames == (0, 2, 3, 5, 6, 8, 9)
    src, _ = a.apply(source, generated)
    assert src.fps == 16.0 and list(src.frames[:, 0, 0, 0]) == [0, 2, 3, 5, 6, 8, 9]


def test_common_duration_limits_the_denser_video_too():
    # generated: 2 s at 16 fps; source: 1 s at 8 fps -> only the generated frames of the first second
    a = align_in_time(clip(9, 8.0), clip(33, 16.0))
    assert a.generated_frames == tuple(range(0, 17, 2)) and a.num_frames == 9
    # generated shorter in time than the source: the source is cut to the generated duration
    b = align_in_time(clip(24, 8.0), clip(9, 16.0))               # 0.5 s of generated video
    assert b.source_frames == tuple(range(5)) and b.generated_frames == (0, 2, 4, 6, 8)


def test_one_shared_instant_gives_one_pair():
    a = align_in_time(clip(1, 8.0), clip(5, 24.0))
    assert a.source_frames == (0,) and a.generated_frames == (0,) and a.details()["duration_s"] == 0.0
