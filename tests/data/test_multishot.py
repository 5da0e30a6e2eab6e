"""multishot-story: sets of N shots sharing subject and style (MbQ App. B.12)."""
from __future__ import annotations

import pytest

from evalkit.cases import MultiShotCase
from evalkit.data.manifest import ManifestProblems
from evalkit.errors import ManifestError
from evalkit.registry import DATASETS


def ms(**options):
    return DATASETS.get("multishot-story")(**options)


def test_shipped_sets():
    ds = ms()
    cases = ds.cases()
    assert len(cases) == 6 and all(isinstance(c, MultiShotCase) and len(c.prompts) == 5 for c in cases)
    girl = cases[0]
    assert girl.case_id == "girl-surf" and girl.subject == "a girl"
    assert girl.prompts[0] == "A girl paddling out on her surfboard, anime cartoon animation"
    for c in cases:  # subject and style shared by every shot, settings differ
        style = c.meta["style"]
        assert all(p.startswith(c.meta["subject_description"]) and p.endswith(style) for p in c.prompts)
        assert len(set(c.prompts)) == 5
    assert ds.check() == []


def test_subset_and_shot_count():
    cases = ms(sets="corgi+knight", shots_per_set=3).cases()
    assert [c.case_id for c in cases] == ["corgi", "knight"] and all(len(c.prompts) == 3 for c in cases)
    with pytest.raises(ManifestError, match="shots_per_set"):
        ms(shots_per_set=1)


def test_benchmark_format_with_full_prompts_and_problems(tmp_path):
    good = tmp_path / "story30.yaml"
    good.write_text("""
version: 1
kind: multishot-story
prompt_template: "{style}: {subject} {setting}"
sets:
  - {id: a, subject: A fox, style: Watercolour, settings: [leaping over a log, diving into snow]}
  - {id: b, subject: A man, subject_word: a man, prompts: [A man surfs, A man skis, A man runs]}
""")
    a, b = ms(manifest=str(good)).cases()
    assert a.prompts == ("Watercolour: A fox leaping over a log", "Watercolour: A fox diving into snow")
    assert b.prompts == ("A man surfs", "A man skis", "A man runs") and b.subject == "a man"
    bad = tmp_path / "bad.yaml"
    bad.write_text("""
version: 1
kind: multishot-story
sets:
  - {id: a, subject: x, settings: [one]}
  - {id: b, subject: y, settings: [p, q], prompts: [r, s]}
  - {id: c, settings: [p, q], colour: red}
""")
    with pytest.raises(ManifestProblems) as info:
        ms(manifest=str(bad))
    assert info.value.problems == [
        "sets.0: set 'a': a multi-shot set needs at least 2 shots, has 1",
        "sets.1: set 'b': give exactly one of 'settings' or 'prompts'",
        "sets.2.subject: required field missing",
        "sets.2.colour: unknown field",
    ]
