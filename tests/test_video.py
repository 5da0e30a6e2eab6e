
from pathlib import Path

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


# -- bounded memory ----------------------------------------------------------------------------

def _peak_bytes(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decoding_a_frame_folder_peaks_near_the_size_of_the_frames(tmp_path):
    """Defect: decoding held every frame twice (a list, then np.stack): a 4K × 200-frame video
    peaked at 14.7 GB RSS, about 3× its frames."""
    v = moving_square(t=48, h=240, w=320)
    path = write_video(v, tmp_path / "frames")
    video, peak = _peak_bytes(lambda: read_video(path, fps=12))
    raw = v.frames.nbytes
    assert video.frames.shape == v.frames.shape
    assert peak < 1.35 * raw, f"peak {peak / raw:.2f}× the frames"


def test_decoding_an_mp4_peaks_near_the_size_of_the_frames(tmp_path):
    """The same for a container, measured as a fresh process's peak RSS (VmHWM: PyAV's frame
    buffers are not seen by tracemalloc, and ru_maxrss carries the parent's peak over exec)."""
    import subprocess
    import sys

    v = moving_square(t=120, h=480, w=640)
    path = write_video(v, tmp_path / "v.mp4", crf=10)
    tiny = write_video(moving_square(t=4), tmp_path / "tiny.mp4")
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs /proc/self/status (Linux)")
    code = ("import sys; from evalkit.video import read_video\n"
            "def hwm(): return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
            "read_video(sys.argv[2])\n"                             # imports and decoder warmed up
            "before = hwm()\n"
            "v = read_video(sys.argv[1])\n"
            "print((hwm() - before) * 1024, v.frames.nbytes)")
    out = subprocess.run([sys.executable, "-c", code, str(path), str(tiny)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    grown, raw = map(int, out.stdout.split())
    assert grown < 1.4 * raw, f"peak RSS grew by {grown / raw:.2f}× the frames"


def test_a_frame_range_keeps_only_its_frames(tmp_path):
    v = moving_square(t=40, h=120, w=160)
    path = write_video(v, tmp_path / "frames")
    part, peak = _peak_bytes(lambda: read_video(path, fps=12, start=4, end=28, step=4))
    np.testing.assert_array_equal(part.frames, v.frames[4:28:4])
    assert part.fps == pytest.approx(3.0) and peak < 0.3 * v.frames.nbytes


def test_a_video_over_the_memory_limit_is_refused_before_decoding_it(tmp_path, monkeypatch):
    from evalkit.errors import MemoryLimitError
    from evalkit.run.failures import failure_class

    path = write_video(moving_square(t=48, h=240, w=320), tmp_path / "v.mp4")
    monkeypatch.setenv("EVALKIT_MAX_VIDEO_BYTES", str(1_000_000))
    with pytest.raises(MemoryLimitError) as err:
        _peak_bytes(lambda: read_video(path))
    msg = str(err.value)
    assert str(path) in msg and "48 frames of 320x240" in msg and "EVALKIT_MAX_VIDEO_BYTES" in msg
    assert failure_class(err.value) == "environment"          # not cached against the item
    monkeypatch.setenv("EVALKIT_MAX_VIDEO_BYTES", "lots")
    with pytest.raises(InvalidInputError, match="EVALKIT_MAX_VIDEO_BYTES"):
        read_video(path)


def test_iter_frames_streams_one_frame_at_a_time(tmp_path):
    from evalkit.video import iter_frames

    v = moving_square(t=24, h=64, w=80)
    path = write_video(v, tmp_path / "v.mp4", crf=0)
    frames = iter_frames(path)
    first = next(frames)
    assert first.shape == (64, 80, 3) and first.dtype == np.uint8
    assert 1 + sum(1 for _ in frames) == 24
