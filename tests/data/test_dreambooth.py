"""dreambooth-personalization on the 8 DreamBooth subjects of ../shared/data."""
from __future__ import annotations

import pytest

from evalkit.cases import ImageFiles, PersonalizationCase
from evalkit.errors import ManifestError, VideoReadError
from evalkit.registry import DATASETS

AVAILABLE = ["backpack", "berry_bowl", "can", "cat", "dog", "red_cartoon", "teapot", "vase"]


def db(root, **options):
    return DATASETS.get("dreambooth-personalization")(root=root, **options)


def official_classes(shared_data) -> dict[str, str]:
    text = (shared_data / "dreambooth" / "prompts_and_classes.txt").read_text()
    rows = [line.split(",") for line in text.split("Prompts")[0].splitlines() if "," in line]
    return {name.strip(): cls.strip() for name, cls in rows[1:]}


def test_manifest_matches_the_official_list(shared_data):
    ds = db(shared_data)
    assert {s: ds.manifest.subjects[s].class_noun for s in ds.manifest.subjects} == official_classes(shared_data)
    live = sorted(s for s, v in ds.manifest.subjects.items() if v.live)
    assert live == ["cat", "cat2", "dog", "dog2", "dog3", "dog5", "dog6", "dog7", "dog8"]
    text = (shared_data / "dreambooth" / "prompts_and_classes.txt").read_text()
    for group in ("object", "live"):
        templates = ds.manifest.prompt_sets["official"][group]
        assert len(templates) == 25
        for t in templates:  # each official template, written with {0} {1}, appears in the source file
            assert "'" + t.replace("{token}", "{0}").replace("{class_noun}", "{1}") + "'.format" in text


def test_the_8_real_subjects(shared_data):
    ds = db(shared_data, available_only=True)
    assert ds.subjects == AVAILABLE and ds.check() == []
    cases = ds.cases()
    assert len(cases) == 8 * 25 and all(isinstance(c, PersonalizationCase) for c in cases)
    by_id = {c.case_id: c for c in cases}
    classes = official_classes(shared_data)
    for c in cases:
        assert c.class_noun == classes[c.subject_name]
        assert f"sks {c.class_noun}" in c.prompt and "{" not in c.prompt
    assert by_id["dog/00"].prompt == "a sks dog in the jungle"
    assert by_id["dog/10"].prompt == "a sks dog wearing a red hat"               # live template
    assert by_id["teapot/10"].prompt == "a sks teapot with a wheat field in the background"  # object template
    assert by_id["red_cartoon/24"].prompt == "a cube shaped sks cartoon"
    refs = by_id["cat/03"].reference_images
    assert isinstance(refs, ImageFiles) and len(refs.paths) == 5
    images = refs.load()
    assert len(images) == 5 and all(im.ndim == 3 and im.shape[2] == 3 for im in images)


def test_vwarper_style_subset_and_token(shared_data):
    ds = db(shared_data, subjects="dog,teapot,red_cartoon", prompts_per_subject=10, max_reference_images=5,
            subject_token="zwx")
    cases = ds.cases()
    assert len(cases) == 30
    assert {c.meta["num_reference_images"] for c in cases if c.subject_name == "red_cartoon"} == {4}
    assert {len(c.reference_images.paths) for c in cases if c.subject_name == "dog"} == {5}
    assert cases[0].prompt == "a zwx dog in the jungle" and cases[0].subject_token == "zwx"
    # the first 10 templates are shared by the object and live lists
    assert [c.meta["template"] for c in cases[:10]] == [c.meta["template"] for c in cases[10:20]]


def test_video_prompt_set(shared_data):
    cases = db(shared_data, subjects="vase", prompt_set="evalkit-video").cases()
    assert len(cases) == 10 and cases[4].prompt == "a sks vase slowly rotating on a turntable"


def test_missing_subjects_fail_on_load_and_are_all_checked(shared_data):
    ds = db(shared_data, subjects="cat,cat2,clock")
    cases = {c.subject_name: c for c in ds.cases()}
    with pytest.raises(VideoReadError, match="cat2: reference image folder not found"):
        cases["cat2"].reference_images.load()
    base = shared_data / "dreambooth"
    assert ds.check() == [f"cat2: reference image folder {base / 'cat2'} not found",
                          f"clock: reference image folder {base / 'clock'} not found"]


def test_bad_options(shared_data):
    with pytest.raises(ManifestError, match="unknown prompt_set 'vbench'"):
        db(shared_data, prompt_set="vbench")
    with pytest.raises(ManifestError, match="prompts_per_subject"):
        db(shared_data, prompts_per_subject=0)
    with pytest.raises(ManifestError, match="did you mean 'teapot'"):
        db(shared_data, subjects="teapott")
