"""davis-motion-transfer on the real DAVIS sequences of ../shared/data (DiTFlow prompt set)."""
from __future__ import annotations

import numpy as np
import pytest

from evalkit.errors import ManifestError, VideoReadError
from evalkit.registry import DATASETS

SUBSET = ["blackswan", "libby", "car-roundabout", "bmx-trees"]
FRAMES = {"blackswan": 50, "libby": 49, "car-roundabout": 75, "bmx-trees": 80}


def davis(root, **options):
    return DATASETS.get("davis-motion-transfer")(root=root, **options)


def test_manifest_gives_150_cases_of_24_frames_each(shared_data):
    cases = davis(shared_data).cases()
    assert len(cases) == 150
    assert {c.category for c in cases} == {"caption", "subject", "scene"}
    # end exclusive: every DiTFlow range selects exactly 24 frames (see evalkit/data/davis.py)
    assert {c.meta["num_frames"] for c in cases} == {24}
    bs = {c.category: c for c in cases if c.meta["sequence"] == "blackswan"}
    assert bs["subject"].target_prompt == "A duck with a tophat swimming in a river"
    assert bs["scene"].source_prompt == bs["caption"].target_prompt == "A black swan swimming in a river"
    assert bs["caption"].case_id == "blackswan/caption"


@pytest.mark.parametrize("seq", SUBSET)
def test_real_sequences_frame_ranges_and_mask_alignment(shared_data, seq):
    from PIL import Image

    ds = davis(shared_data, sequences=seq, categories="subject")
    assert ds.check() == []
    (case,) = ds.cases()
    folder = shared_data / "davis" / "JPEGImages" / "480p" / seq
    ann = shared_data / "davis" / "Annotations" / "480p" / seq
    assert len(list(folder.glob("*.jpg"))) == len(list(ann.glob("*.png"))) == FRAMES[seq]
    start, end, step = case.meta["frame_range"]
    video, masks = case.source.load(), case.source_mask.load()
    assert video.num_frames == 24 == len(range(start, end, step))
    assert video.fps == pytest.approx(24.0 / step)
    assert masks.shape == (24, 480, 854) and masks.dtype == bool
    assert masks.any(axis=(1, 2)).all()  # the subject is annotated in every selected frame
    for k in (0, 1, 23):  # frame k of the case is DAVIS frame start + k*step, mask likewise
        i = start + k * step
        np.testing.assert_array_equal(video.frames[k], np.asarray(Image.open(folder / f"{i:05d}.jpg").convert("RGB")))
        np.testing.assert_array_equal(masks[k], np.asarray(Image.open(ann / f"{i:05d}.png").convert("L")) > 0)


def test_root_may_be_the_davis_folder_or_its_parent(shared_data):
    a = davis(shared_data, sequences="libby").cases()[0]
    b = davis(shared_data / "davis", sequences="libby").cases()[0]
    assert a.source.path == b.source.path and a.content_hash() == b.content_hash()


def test_env_root(shared_data, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(shared_data))
    assert davis(None, sequences="libby").check() == []
    monkeypatch.delenv("EVALKIT_DATA_ROOT")
    with pytest.raises(ManifestError, match="no data root; pass --root DIR"):
        davis(None).cases()


def test_mp4_sources_and_short_video_problem(shared_data):
    ds = davis(shared_data, source="mp4", sequences="bear,car-turn,paragliding", categories="caption")
    problems = ds.check()
    assert problems == [f"car-turn: video {shared_data / 'videos' / 'car-turn.mp4'} has 70 frames, below the "
                        "frame range end 72 (range 0:72:3)"]
    bear = {c.meta["sequence"]: c for c in ds.cases()}["bear"]
    assert bear.source_mask is None  # no bear annotations in the test copy
    v = bear.source.load()
    assert v.num_frames == 24 and v.size == (480, 854)


def test_missing_sequence_fails_on_load_naming_it(shared_data, tmp_path):
    root = tmp_path / "DAVIS"
    for kind in ("JPEGImages", "Annotations"):
        (root / kind / "480p").mkdir(parents=True)
        (root / kind / "480p" / "libby").symlink_to(shared_data / "davis" / kind / "480p" / "libby")
    ds = davis(root, sequences="libby,blackswan", categories="caption")
    cases = {c.meta["sequence"]: c for c in ds.cases()}  # building cases never reads pixels
    assert cases["libby"].source.load().num_frames == 24
    with pytest.raises(VideoReadError, match="blackswan"):
        cases["blackswan"].source.load()
    assert ds.check() == [f"blackswan: frames {root / 'JPEGImages' / '480p' / 'blackswan'} not found"]


def test_check_reports_every_file_problem_at_once(shared_data, tmp_path):
    root = tmp_path / "davis"
    src = shared_data / "davis"
    # blackswan: only 20 frames (range needs 48); libby: masks at another size; bmx-trees: no masks
    (root / "JPEGImages" / "480p" / "blackswan").mkdir(parents=True)
    for f in sorted((src / "JPEGImages" / "480p" / "blackswan").iterdir())[:20]:
        (root / "JPEGImages" / "480p" / "blackswan" / f.name).symlink_to(f)
    (root / "JPEGImages" / "480p" / "libby").symlink_to(src / "JPEGImages" / "480p" / "libby")
    (root / "JPEGImages" / "480p" / "bmx-trees").symlink_to(src / "JPEGImages" / "480p" / "bmx-trees")
    (root / "Annotations" / "480p").mkdir(parents=True)
    (root / "Annotations" / "480p" / "blackswan").symlink_to(src / "Annotations" / "480p" / "blackswan")
    small = root / "Annotations" / "480p" / "libby"
    small.mkdir()
    from PIL import Image
    for i in range(49):
        Image.new("L", (427, 240)).save(small / f"{i:05d}.png")
    problems = davis(root, sequences=SUBSET).check()
    frames = root / "JPEGImages" / "480p"
    assert sorted(problems) == [
        f"blackswan: frames {frames / 'blackswan'} has 20 frames, below the frame range end 48 (range 0:48:2)",
        f"bmx-trees: masks {root / 'Annotations' / '480p' / 'bmx-trees'} not found",
        f"car-roundabout: frames {frames / 'car-roundabout'} not found",
        f"libby: mask size 427x240 ({small}) differs from frame size 854x480",
    ]


def test_options_are_validated(shared_data):
    with pytest.raises(ManifestError, match="unknown sequence.*'blakswan' \\(did you mean 'blackswan'"):
        davis(shared_data, sequences="blakswan")
    with pytest.raises(ManifestError, match="unknown categor"):
        davis(shared_data, categories="style")


def test_transforms_recorded_and_hashed(shared_data):
    plain = davis(shared_data, sequences="libby", categories="caption").cases()[0]
    wan = davis(shared_data, sequences="libby", categories="caption",
                transforms="wan-frames+crop-resize:240x416").cases()[0]
    assert wan.meta["transforms"] == ["repeat:2:1", "crop-resize:240x416"]
    assert wan.content_hash() != plain.content_hash()
    v, m = wan.source.load(), wan.source_mask.load()
    assert v.num_frames == 49 and v.fps == 48.0 and v.size == (240, 416) and m.shape == (49, 240, 416)
