
import numpy as np
import pytest

from evalkit.errors import InvalidInputError, VideoReadError
from evalkit.run.artifacts import load_videos, save_videos
from evalkit.video import Video, read_masks, read_video, write_video


def moving_square(t=12, h=64, w=80, seed=0) -> Video:
    """A red square moving right over a smooth random gradient (codec-friendly, like real video)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    a = rng.uniform(40, 200, 3)
    bg = np.clip(a + 50 * np.stack([np.sin(3 * xx + k) * np.cos(2 * yy) for k in range(3)], -1), 0, 255)
    bg = bg.astype(np.uint8)
    frames = np.repeat(bg[None], t, axis=0).copy()
    for i in range(t):
        frames[i, 20:36, 4 + 3 * i: 20 + 3 * i] = (250, 30, 30)
    return Video(frames, 12.0, "moving_square")


def test_video_validates_frames():
    with pytest.raises(InvalidInputError, match="uint8"):
        Video(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(InvalidInputError, match="no frames"):
        Video(np.zeros((0, 4, 4, 3), np.uint8))


def test_mp4_round_trip_is_close(tmp_path):
    v = moving_square()
    p = write_video(v, tmp_path / "v.mp4", crf=0)
    back = read_video(p)
    assert back.frames.shape == v.frames.shape
    assert back.fps == pytest.approx(12.0)
    # H.264 in yuv420p is lossy even at crf 0 (chroma subsampling): bounded error only
    assert np.abs(back.frames.astype(int) - v.frames.astype(int)).mean() < 3


def test_frame_folder_round_trip_is_exact(tmp_path):
    v = moving_square()
    write_video(v, tmp_path / "frames")
    back = read_video(tmp_path / "frames", fps=12)
    np.testing.assert_array_equal(back.frames, v.frames)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[0] == "00000.png"


def test_npz_round_trip_is_exact(tmp_path):
    v = moving_square()
    back, = load_videos(save_videos([v], tmp_path / "v.npz"))
    np.testing.assert_array_equal(back.frames, v.frames)
    assert back.fingerprint() == v.fingerprint()


def test_subsample_uses_slice_semantics():
    v = moving_square(t=12)
    s = v.subsample(2, 10, 3)
    np.testing.assert_array_equal(s.frames, v.frames[2:10:3])
    assert s.num_frames == 3 and s.fps == pytest.approx(4.0)
    with pytest.raises(InvalidInputError, match="exceeds"):
        v.subsample(0, 20, 1)
    with pytest.raises(InvalidInputError, match="selects no frames"):
        v.subsample(11, 11, 1)


def test_resize_and_reverse():
    v = moving_square()
    r = v.resize(32, 40)
    assert r.size == (32, 40) and r.num_frames == v.num_frames
    np.testing.assert_array_equal(v.reversed().reversed().frames, v.frames)


def test_fingerprint_tracks_content():
    a, b = moving_square(seed=0), moving_square(seed=0)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != moving_square(seed=1).fingerprint()
    assert a.fingerprint() != Video(a.frames, 24.0).fingerprint()


def test_truncated_mp4_is_a_clear_error(tmp_path):
    p = write_video(moving_square(t=30), tmp_path / "v.mp4")
    data = p.read_bytes()
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError) as err:
        read_video(bad)
    assert "truncated.mp4" in str(err.value)


def test_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoReadError, match="junk.mp4"):
        read_video(junk)
    with pytest.raises(VideoReadError, match="no such file"):
        read_video(tmp_path / "absent.mp4")


def test_empty_frame_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match="empty"):
        read_video(tmp_path / "empty")


def test_frame_of_another_size_names_the_file(tmp_path):
    from PIL import Image

    folder = tmp_path / "seq"
    write_video(moving_square(t=3), folder)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(folder / "00003.png")
    with pytest.raises(VideoReadError, match="00003.png"):
        read_video(folder)


def test_read_masks(tmp_path):
    from PIL import Image

    m = np.zeros((2, 8, 8), np.uint8)
    m[:, 2:5, 3:6] = 255
    (tmp_path / "m").mkdir()
    for i in range(2):
        Image.fromarray(m[i]).save(tmp_path / "m" / f"{i:05d}.png")
    masks = read_masks(tmp_path / "m")
    assert masks.dtype == bool and masks.shape == (2, 8, 8) and masks.sum() == 18


def test_reads_real_davis(shared_data):
    v = read_video(shared_data / "davis" / "JPEGImages" / "480p" / "blackswan")
    assert v.num_frames == 50 and v.size == (480, 854)
    clip = read_video(shared_data / "videos" / "car-roundabout-24.mp4")
    assert clip.num_frames == 24 and clip.fps == pytest.approx(8.0)
