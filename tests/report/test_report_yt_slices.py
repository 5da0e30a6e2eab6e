"""y–t slices: the column of maximum temporal variance and the slice layout."""
from __future__ import annotations

import numpy as np

from evalkit.report.yt_slices import (
    animation_bytes,
    contact_sheet,
    load_artifact_videos,
    max_variance_column,
    sheet_columns,
    yt_slice,
)
from evalkit.video import Video


def test_max_variance_column_known_answer():
    frames = np.zeros((8, 6, 10, 3), np.uint8)
    frames[::2, :, 7] = 255          # only column 7 flickers
    assert max_variance_column(frames) == 7


def test_slice_layout_and_motion(make_video):
    frames = make_video("copy", "c0")              # square moves right 2 px per frame
    x, sl = yt_slice(frames)
    assert sl.shape == (frames.shape[1], frames.shape[0], 3)   # (H, T, 3): time along the width
    assert np.array_equal(sl[:, 3], frames[3, :, x])
    static = make_video("static", "c0")
    _, st = yt_slice(static, x=4)
    assert (st == st[:, :1]).all()                   # static video: horizontal stripes
    _, rev = yt_slice(make_video("reverse", "c0"), x=x)
    assert np.array_equal(rev, sl[:, ::-1])          # reversed video: mirrored slice


def test_contact_sheet_and_animation(tmp_path, make_video, artifact):
    artifact(tmp_path / "a.npz", make_video("copy", "c0"))
    video = load_artifact_videos(tmp_path / "a.npz")[0]
    sheet = contact_sheet([("source", video), ("copy", video)])
    assert sheet.width > sheet.height > 100
    data, mime = animation_bytes(video, width=32)
    assert mime in ("image/webp", "image/gif") and len(data) > 100
    assert load_artifact_videos(tmp_path / "a.npz")[0].num_frames == 10
    v = Video(np.zeros((3, 4, 4, 3), np.uint8))
    assert yt_slice(v.frames)[1].shape == (4, 3, 3)


def test_every_row_is_cut_at_the_first_videos_column(make_video):
    """Defect: each row was cut at its own column, so rows of one sheet were not comparable."""
    moving = Video(make_video("copy", "c0"))
    still = Video(np.repeat(moving.frames[:1], 10, axis=0))
    x = max_variance_column(moving.frames)
    assert sheet_columns([moving, still, moving]) == [x, x, x]
    other = Video(make_video("reverse", "c1"))
    x_other = max_variance_column(other.frames)
    assert sheet_columns([other, moving]) == [x_other, x_other]
    assert sheet_columns([still, moving]) == [x, x]          # a still first video: the first moving one's
    wide = Video(np.repeat(np.repeat(moving.frames, 2, axis=2), 1, axis=0))   # twice as wide
    assert sheet_columns([moving, wide]) == [x, 2 * x]      # the same place in a wider video
