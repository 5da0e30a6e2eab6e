"""Frame-count and size conversions: MbQ App. A.1.1's 16→33 / 24→49 for Wan, crops, masks."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.cases import FileMasks, FileVideo, FrameRange, InlineVideo, MotionTransferCase
from evalkit.data.transforms import (
    CenterCropResize,
    RepeatFrames,
    ResampleFrames,
    Resize,
    TransformedMasks,
    TransformedVideo,
    parse_transform,
    parse_transforms,
)
from evalkit.errors import InvalidInputError
from evalkit.video import Video


def numbered(n: int, h: int = 8, w: int = 10, fps: float = 8.0) -> Video:
    frames = np.zeros((n, h, w, 3), np.uint8) + np.arange(n, dtype=np.uint8)[:, None, None, None]
    return Video(frames, fps)


@pytest.mark.parametrize("n,expected", [(16, 33), (24, 49)])
def test_wan_frames_repeat_twice_and_pad_last(n, expected):
    out = parse_transform("wan-frames").apply(numbered(n))
    assert out.num_frames == expected and out.fps == 16.0  # fps doubled: duration kept
    ids = out.frames[:, 0, 0, 0].tolist()
    assert ids == [i for i in range(n) for _ in range(2)] + [n - 1]
    assert out.num_frames / out.fps == pytest.approx(n / 8.0, abs=1 / 16)


def test_repeat_masks_follow_frames():
    masks = np.zeros((3, 4, 4), bool)
    masks[1, 0, 0] = True
    out = RepeatFrames(2, 1).apply_masks(masks)
    assert out.shape == (7, 4, 4) and out[:, 0, 0].tolist() == [0, 0, 1, 1, 0, 0, 0]


def test_resample_frames():
    out = ResampleFrames(5).apply(numbered(9))
    assert out.frames[:, 0, 0, 0].tolist() == [0, 2, 4, 6, 8] and out.fps == pytest.approx(8 * 5 / 9)
    assert ResampleFrames(4).apply(numbered(2)).frames[:, 0, 0, 0].tolist() == [0, 0, 1, 1]


def test_center_crop_resize_davis_to_wan_keeps_masks_aligned():
    h, w = 480, 854
    frames = np.zeros((2, h, w, 3), np.uint8)
    masks = np.zeros((2, h, w), bool)
    frames[:, 200:280, 400:460] = 255   # a white box and its mask on the same pixels
    masks[:, 200:280, 400:460] = True
    t = CenterCropResize(240, 416)      # 480x832 aspect, half size
    v, m = t.apply(Video(frames)), t.apply_masks(masks)
    assert v.size == (240, 416) and m.shape == (2, 240, 416) and m.dtype == bool
    # crop removes 11 columns on the left, then halves: box at rows 100:140, cols ~194.5:224.5
    white = v.frames[0, :, :, 0] > 127
    assert abs(int(white.sum()) - int(m[0].sum())) <= 2 * 40 + 2
    assert (white & m[0]).sum() / m[0].sum() > 0.95


def test_resize_and_parse_errors():
    assert Resize(4, 6).apply(numbered(2)).size == (4, 6)
    assert parse_transforms("wan-frames+crop-resize:480x832") == (RepeatFrames(2, 1), CenterCropResize(480, 832))
    assert parse_transforms("") == ()
    for bad in ("spin:3", "resize:480", "frames:x", "repeat:0"):
        with pytest.raises(InvalidInputError):
            parse_transform(bad)


def test_transforms_enter_the_case_hash_and_meta(tmp_path):
    src = InlineVideo(numbered(16))
    plain = MotionTransferCase("c", src, "p")
    wrapped = MotionTransferCase("c", TransformedVideo(src, (RepeatFrames(),)), "p")
    wrapped_again = MotionTransferCase("c", TransformedVideo(src, (RepeatFrames(),)), "p")
    other = MotionTransferCase("c", TransformedVideo(src, (RepeatFrames(2, 0),)), "p")
    hashes = {plain.content_hash(), wrapped.content_hash(), other.content_hash()}
    assert len(hashes) == 3 and wrapped.content_hash() == wrapped_again.content_hash()
    assert wrapped.source.load().num_frames == 33


def test_transformed_file_sources(shared_data):
    seq = shared_data / "davis" / "JPEGImages" / "480p" / "libby"
    ann = shared_data / "davis" / "Annotations" / "480p" / "libby"
    fr = FrameRange(0, 16, 1)
    ts = parse_transforms("wan-frames,crop-resize:240x416")
    v = TransformedVideo(FileVideo(seq, fr, fps=24.0), ts).load()
    m = TransformedMasks(FileMasks(ann, fr), ts).load()
    assert v.num_frames == 33 and v.fps == 48.0 and v.size == (240, 416)
    assert m.shape == (33, 240, 416) and m.any(axis=(1, 2)).all()


def test_frame_repetition_applies_once_per_clip():
    """One rule (evalkit.frame_repeat), one application: ``wan-frames`` twice is an error."""
    from evalkit.frame_repeat import repeat_frames

    once = parse_transform("wan-frames").apply(numbered(24))
    assert once.num_frames == 49
    assert np.array_equal(once.frames, repeat_frames(numbered(24), 2, 1).frames)
    with pytest.raises(InvalidInputError, match="already frame-repeated"):
        TransformedVideo(InlineVideo(numbered(24)), parse_transforms("wan-frames+wan-frames")).load()
    # other conversions after the repetition keep its note: still refused
    resized = Resize(4, 6).apply(once)
    with pytest.raises(InvalidInputError, match="already frame-repeated"):
        parse_transform("repeat:3:0").apply(resized)
    assert parse_transform("repeat:1:0").apply(once) is once  # the identity is no repetition
