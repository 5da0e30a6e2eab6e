"""``multishot-story``: sets of N shots sharing a subject (Motion by Queries App. B.12).

Each shot's prompt = subject description + setting + style descriptor, filled into the
manifest's ``prompt_template``; a set may instead list its full prompts. Needs no files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cases import MultiShotCase
from ..errors import ManifestError
from ..registry import DATASETS
from .manifest import ManifestDataset, parse_list


@DATASETS.register("multishot-story")
class MultiShotStory(ManifestDataset):
    case_kind = "multi-shot"
    manifest_kind = "multishot-story"
    description = "story sets: N shots sharing a subject and style (MbQ App. B.12)"
    defaults = {
        "manifest": "multishot_story",
        "sets": None,            # list or "a,b"; None = all
        "shots_per_set": None,   # first N shots of each set; None = all
    }

    def __init__(self, root: str | Path | None = None, **options: Any) -> None:
        super().__init__(root=root, **options)
        ids = self.select("set(s)", parse_list(self.options["sets"]), [s.id for s in self.manifest.sets])
        self.sets = [s for s in self.manifest.sets if s.id in ids]
        n = self.options["shots_per_set"]
        try:
            self.n_shots = None if n in (None, "", "all") else int(n)
        except (TypeError, ValueError):
            raise ManifestError(f"option shots_per_set={n!r} must be an integer >= 2") from None
        if self.n_shots is not None and self.n_shots < 2:
            raise ManifestError(f"option shots_per_set={n!r} must be an integer >= 2")

    def prompts(self, story) -> tuple[str, ...]:
        if story.prompts:
            prompts = list(story.prompts)
        else:
            t = self.manifest.prompt_template
            prompts = [" ".join(t.format(subject=story.subject, setting=s, style=story.style).split())
                       .rstrip(", ") for s in story.settings]
        return tuple(prompts[: self.n_shots] if self.n_shots else prompts)

    def cases(self) -> list[MultiShotCase]:
        return [MultiShotCase(
            case_id=s.id, subject=s.subject_word or s.subject, prompts=self.prompts(s),
            category=s.category, meta=self.provenance(style=s.style, subject_description=s.subject))
            for s in self.sets]

    def check(self) -> list[str]:
        return []  # prompts only: the schema validation at load is the whole check
