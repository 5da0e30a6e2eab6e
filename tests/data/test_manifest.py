"""Manifests: the shipped ones validate; malformed ones give one clear line per problem."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.data import manifest as mf
from evalkit.data.manifest import ManifestProblems, datasets_dir, find_manifest, load_manifest, parse_list, resolve_root
from evalkit.errors import ManifestError
from evalkit.registry import DATASETS

SHIPPED = {"ditflow_davis": "davis-motion-transfer", "motion_transfer_public": "motion-transfer",
           "dreambooth": "dreambooth-personalization", "multishot_story": "multishot-story",
           "webvid_sample": "webvid"}


@pytest.mark.parametrize("name,kind", SHIPPED.items())
def test_shipped_manifests_validate(name, kind):
    m, path = load_manifest(name)
    assert path.parent == datasets_dir() and m.kind == kind and m.version == 1
    assert m.source and m.licence  # every shipped manifest says where it comes from and its licence
    assert kind in DATASETS


def test_datasets_dir_is_the_checkout_folder_and_env_overrides(tmp_path, monkeypatch):
    checkout = Path(mf.__file__).resolve().parents[2] / "datasets"
    packaged = Path(mf.__file__).resolve().parents[1] / "_datasets"
    # a checkout (editable install) uses its datasets/; an installed package (tox, a wheel)
    # carries the same folder as evalkit/_datasets
    assert datasets_dir() == (checkout if checkout.is_dir() else packaged)
    assert (packaged / "dreambooth.yaml").is_file()
    monkeypatch.setenv("EVALKIT_DATASETS_DIR", str(tmp_path))
    with pytest.raises(ManifestError, match="manifest 'dreambooth' not found"):
        find_manifest("dreambooth")


def test_find_manifest_by_name_suffix_or_dataset_name():
    assert find_manifest("dreambooth").name == "dreambooth.yaml"
    assert find_manifest("dreambooth.yaml").name == "dreambooth.yaml"
    assert find_manifest("multishot-story").name == "multishot_story.yaml"  # kebab → snake


def test_root_option_then_env(monkeypatch, tmp_path):
    monkeypatch.delenv("EVALKIT_DATA_ROOT", raising=False)
    assert resolve_root(None) is None
    monkeypatch.setenv("EVALKIT_DATA_ROOT", str(tmp_path))
    assert resolve_root(None) == tmp_path
    assert resolve_root("/elsewhere") == Path("/elsewhere")


def test_ditflow_prompts_shipped_unchanged(shared_data):
    original = json.loads((shared_data / "prompts" / "ditflow_davis_prompts.json").read_text())
    m, _ = load_manifest("ditflow_davis")
    assert len(m.sequences) == 50
    for seq, entry in original["sequences"].items():
        got = m.sequences[seq]
        assert (got.caption, got.subject, got.scene) == (entry["caption"], entry["subject"], entry["scene"])
        assert got.frame_range.model_dump() == entry["frame_range"]


def write(tmp_path, text, name="m.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_every_schema_problem_is_reported_once_with_its_entry(tmp_path):
    p = write(tmp_path, """
version: 1
kind: motion-transfer
items:
  - id: a
    source: a.mp4
    targets: [{prompt: x, category: weird}]
  - id: a
    source: b.mp4
    frame_range: {start: 5, end: 2}
    tragets: []
""")
    with pytest.raises(ManifestProblems) as info:
        load_manifest(p)
    problems = info.value.problems
    assert sorted(problems) == sorted([
        "items.1.frame_range: end 2 must be greater than start 5",
        "items.1.targets: required field missing",
        "items.1.tragets: unknown field",
        "items.0 (a).targets.0: unknown category 'weird' (known: same-subject, different-subject)",
        "items.1 (a): duplicate item id",
    ])
    assert str(p) in str(info.value)


@pytest.mark.parametrize("text,message", [
    ("version: 2\nkind: multishot-story\nsets: []\n", "manifest version 2 is not supported"),
    ("version: 1\nkind: nonsense\n", "unknown manifest kind 'nonsense'"),
    ("- a list\n", "must be a mapping"),
    ("a: [\n", "not valid YAML"),
    ("version: 1\nkind: dreambooth-personalization\n", "subjects: required field missing"),
])
def test_malformed_manifests(tmp_path, text, message):
    with pytest.raises(ManifestError, match=message):
        load_manifest(write(tmp_path, text))


def test_kind_must_match_the_dataset(tmp_path):
    p = write(tmp_path, "version: 1\nkind: multishot-story\nsets: [{id: a, subject: b, settings: [x, y]}]\n")
    with pytest.raises(ManifestError, match="does not match dataset 'motion-transfer'"):
        DATASETS.get("motion-transfer")(manifest=str(p))


def test_dreambooth_templates_need_both_placeholders(tmp_path):
    p = write(tmp_path, """
version: 1
kind: dreambooth-personalization
subjects: {dog: {class_noun: dog, live: true}}
prompt_sets: {mine: {object: ["a {token} thing"], live: ["a {token} {class_noun}"]}}
""")
    with pytest.raises(ManifestProblems) as info:
        load_manifest(p)
    assert info.value.problems == ["prompt_sets.mine.object.0: template 'a {token} thing' must contain "
                                   "{token} and {class_noun}"]


def test_parse_list():
    assert parse_list(None) is None and parse_list("all") is None and parse_list("") is None
    assert parse_list("a, b+c") == ["a", "b", "c"]
    assert parse_list(["x", "y"]) == ["x", "y"]


def test_frame_range_conventions():
    spec = mf.FrameRangeSpec(start=0, end=48, step=2)
    exclusive, inclusive = spec.to_frame_range(), spec.to_frame_range("inclusive")
    assert len(range(exclusive.start, exclusive.end, exclusive.step)) == 24
    assert len(range(inclusive.start, inclusive.end, inclusive.step)) == 25
    # DiTFlow's list read as exclusive: every sequence 24 frames; read inclusive it would be uneven
    m, _ = load_manifest("ditflow_davis")
    ex = {len(range(s.frame_range.start, s.frame_range.end, s.frame_range.step)) for s in m.sequences.values()}
    inc = {len(range(s.frame_range.start, s.frame_range.end + 1, s.frame_range.step)) for s in m.sequences.values()}
    assert ex == {24} and inc == {24, 25}
