"""evalkit's subject annotation of the DiTFlow DAVIS manifest (LMP needs the subject words)."""
from __future__ import annotations

import json
import re

from evalkit.data.davis import DAVIS_CATEGORIES, DavisMotionTransfer
from evalkit.data.manifest import find_manifest


def _occurs(words: str, prompt: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(words) + r"(?!\w)", prompt) is not None


def test_every_case_has_subject_words_that_occur_in_its_prompts(shared_data):
    cases = DavisMotionTransfer(root=shared_data).cases()
    assert len(cases) == 150
    for c in cases:
        assert c.subject.strip() and c.source_subject.strip(), c.case_id
        assert _occurs(c.subject, c.target_prompt), (c.case_id, c.subject, c.target_prompt)
        assert _occurs(c.source_subject, c.source_prompt), (c.case_id, c.source_subject, c.source_prompt)
        if c.category == "caption":   # the caption prompt is the source prompt: the same subject
            assert c.subject == c.source_subject


def test_manifest_names_the_annotation_as_evalkits():
    data = json.loads(find_manifest("ditflow_davis").read_text())
    assert "evalkit's annotation" in data["source"]
    for seq, entry in data["sequences"].items():
        assert set(entry["target_subjects"]) == set(DAVIS_CATEGORIES), seq
        assert entry["target_subjects"]["caption"] == entry["source_subject"], seq
