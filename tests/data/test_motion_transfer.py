"""motion-transfer (generic manifest): the public Motion-Inversion pair and the DAVIS subset."""
from __future__ import annotations

import pytest

from evalkit.errors import InvalidInputError, ManifestError, VideoReadError
from evalkit.registry import DATASETS


def mt(root, **options):
    return DATASETS.get("motion-transfer")(root=root, **options)


def test_public_manifest_cases(shared_data):
    ds = mt(shared_data)
    assert ds.check() == []
    cases = {c.case_id: c for c in ds.cases()}
    assert len(cases) == 9
    pair = cases["car-roundabout-24/skateboard"]
    assert pair.source_prompt == "A car turnaround in a city street"
    assert pair.target_prompt == "A skateboard slides along a city lane"
    assert (pair.source_subject, pair.subject, pair.category) == ("a car", "a skateboard", "different-subject")
    v = pair.source.load()
    assert v.num_frames == 24 and v.fps == pytest.approx(8.0) and v.size == (480, 864)
    assert pair.source_mask is None
    same, diff = cases["libby/same"], cases["libby/different"]
    assert (same.category, diff.category) == ("same-subject", "different-subject")
    assert same.source is diff.source and diff.target_prompt == "Bear running in a garden"
    assert sorted(c.category for c in cases.values()).count("same-subject") == 4


def test_davis_subset_frames_and_masks(shared_data):
    (case,) = mt(shared_data, items="blackswan", categories="different-subject").cases()
    v, m = case.source.load(), case.source_mask.load()
    assert v.num_frames == 24 and v.fps == 12.0 and m.shape == (24, 480, 854) and m.any(axis=(1, 2)).all()
    assert case.meta["frame_range"] == [0, 48, 2] and case.meta["origin"] == "DAVIS 2016 blackswan"


def test_wan_conversion_of_the_24_frame_pair(shared_data):
    (case,) = mt(shared_data, items="car-roundabout-24", transforms="wan-frames").cases()
    v = case.source.load()
    assert v.num_frames == 49 and v.fps == pytest.approx(16.0)  # MbQ App. A.1.1: 24 → 49, fps doubled
    assert case.meta["transforms"] == ["repeat:2:1"]


def test_user_manifest_with_absolute_paths_and_every_problem(shared_data, tmp_path):
    m = tmp_path / "mine.yaml"
    m.write_text(f"""
version: 1
kind: motion-transfer
items:
  - id: gone
    source: webvid/123.mp4
    origin: WebVid 123
    targets: [{{prompt: a cat, category: different-subject}}]
  - id: short
    source: {shared_data / 'videos' / 'car-turn.mp4'}
    masks: {shared_data / 'davis' / 'Annotations' / '480p' / 'libby'}
    frame_range: {{end: 72, step: 3}}
    targets: [{{prompt: a bus, category: same-subject}}]
""")
    ds = mt(tmp_path, manifest=str(m))
    car_turn = shared_data / "videos" / "car-turn.mp4"
    libby = shared_data / "davis" / "Annotations" / "480p" / "libby"
    assert ds.check() == [
        f"gone: source {tmp_path / 'webvid' / '123.mp4'} not found",
        f"short: source {car_turn} has 70 frames, below the frame range end 72 (range 0:72:3)",
        f"short: mask size 854x480 ({libby}) differs from frame size 768x432",
        f"short: masks {libby} cover 49 frames, the video has 70",
    ]
    gone, short = ds.cases()
    with pytest.raises(VideoReadError, match="123.mp4"):
        gone.source.load()
    with pytest.raises(InvalidInputError, match="car-turn.mp4: frame range end 72"):
        short.source.load()


def test_unknown_item(shared_data):
    with pytest.raises(ManifestError, match="unknown item"):
        mt(shared_data, items="nope")


def test_absolute_paths_need_no_root(shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("EVALKIT_DATA_ROOT", raising=False)
    m = tmp_path / "abs.yaml"
    m.write_text(f"version: 1\nkind: motion-transfer\nitems:\n  - id: bear\n"
                 f"    source: {shared_data / 'videos' / 'bear.mp4'}\n    targets: [{{prompt: a panda}}]\n")
    ds = mt(None, manifest=str(m))
    assert ds.check() == [] and ds.cases()[0].source.load().num_frames == 82
