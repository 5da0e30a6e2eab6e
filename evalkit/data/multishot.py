"""``multishot-story``: sets of N shots sharing a subject (Motion by Queries App. B.12).

Each shot's prompt = subject description + setting + style descriptor, filled into the
manifest's ``prompt_template``; a set may instead list its full prompts. Needs no files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from ..cases import MultiShotCase
from ..errors import ManifestError
from ..registry import DATASETS
from .manifest import IdSegment, ManifestDataset, ManifestHeader, ManifestModel, parse_list


class StorySet(ManifestModel):
    id: IdSegment = Field(min_length=1)
    subject: str = Field(min_length=1)   # subject description, prompt part 1 ("A girl")
    subject_word: str = ""               # text for CLIPSeg (defaults to ``subject``)
    style: str = ""                      # prompt part 3 ("Anime cartoon animation")
    settings: list[str] = []             # prompt part 2, one per shot ...
    prompts: list[str] = []              # ... or the full prompts, one per shot
    category: str = ""

    @model_validator(mode="after")
    def _shots(self) -> "StorySet":
        if bool(self.settings) == bool(self.prompts):
            raise ValueError(f"set {self.id!r}: give exactly one of 'settings' or 'prompts'")
        n = len(self.settings or self.prompts)
        if n < 2:
            raise ValueError(f"set {self.id!r}: a multi-shot set needs at least 2 shots, has {n}")
        if any(not s.strip() for s in self.settings or self.prompts):
            raise ValueError(f"set {self.id!r}: empty shot text")
        return self


class MultiShotManifest(ManifestHeader):
    # MbQ App. B.12: prompt = subject description + setting + style descriptor
    prompt_template: str = "{subject} {setting}, {style}"
    sets: list[StorySet] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "MultiShotManifest":
        ids = [s.id for s in self.sets]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate set id(s): {', '.join(dup)}")
        for field in ("{subject}", "{setting}"):
            if field not in self.prompt_template:
                raise ValueError(f"prompt_template must contain {field}")
        return self


@DATASETS.register("multishot-story")
class MultiShotStory(ManifestDataset):
    title = "Multi-shot stories"   # how leaderboards name the benchmark
    case_kind = "multi-shot"
    manifest_kind = "multishot-story"
    schema = MultiShotManifest
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
