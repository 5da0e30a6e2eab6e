"""``dreambooth-personalization``: DreamBooth subjects × prompt templates (PersonalizationCase).

Subjects, class nouns and the official 25 object / 25 live templates come from the shipped
manifest (parsed from google/dreambooth's prompts_and_classes.txt); reference images from a
user's DreamBooth ``dataset/`` folder (one sub-folder of images per subject). V-Warper's
setup (10 subjects × 10 prompts, 5 reference images) is
``subjects=...,prompts_per_subject=10,max_reference_images=5``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ..cases import ImageFiles, PersonalizationCase
from ..errors import ManifestError, MissingDataError, VideoReadError
from ..probe import ProbeError, image_size
from ..registry import DATASETS
from ..video import FRAME_SUFFIXES
from .manifest import IdSegment, ManifestDataset, ManifestHeader, ManifestModel, as_bool, find_subroot, parse_list


class DreamBoothSubject(ManifestModel):
    class_noun: str = Field(min_length=1)
    live: bool = False  # live subjects (cats, dogs) use the "live" prompt templates


class DreamBoothManifest(ManifestHeader):
    subject_token: str = "sks"
    subjects: dict[IdSegment, DreamBoothSubject] = Field(min_length=1)
    # template sets: name -> {"object": [...], "live": [...]}; placeholders {token} {class_noun}
    prompt_sets: dict[str, dict[Literal["object", "live"], list[str]]] = Field(min_length=1)

    @model_validator(mode="after")
    def _templates(self) -> "DreamBoothManifest":
        problems = []
        for set_name, groups in self.prompt_sets.items():
            for group in ("object", "live"):
                templates = groups.get(group)
                if not templates:
                    problems.append(f"prompt_sets.{set_name}: missing or empty {group!r} templates")
                    continue
                for i, t in enumerate(templates):
                    if "{token}" not in t or "{class_noun}" not in t:
                        problems.append(f"prompt_sets.{set_name}.{group}.{i}: template {t!r} must contain "
                                        "{token} and {class_noun}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class SubjectImages(ImageFiles):
    """A subject's reference images; a missing or empty folder fails on load, naming it."""
    folder: Path | None = None

    def load(self):
        if not self.paths:
            if self.folder is None or not self.folder.is_dir():   # missing data: retried by the next run
                raise MissingDataError(f"{self.folder}: reference image folder not found")
            raise VideoReadError(f"{self.folder}: reference image folder holds no images")
        return super().load()


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in FRAME_SUFFIXES)


def _positive_int_or_none(value: Any, name: str) -> int | None:
    if value in (None, "", "all"):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ManifestError(f"option {name}={value!r} must be a positive integer") from None
    if n < 1:
        raise ManifestError(f"option {name}={value!r} must be a positive integer")
    return n


@DATASETS.register("dreambooth-personalization")
class DreamBoothPersonalization(ManifestDataset):
    title = "DreamBooth personalization"   # how leaderboards name the benchmark
    case_kind = "personalization"
    manifest_kind = "dreambooth-personalization"
    schema = DreamBoothManifest
    description = "DreamBooth: 30 subjects × 25 official prompt templates (selectable subsets)"
    root_hint = "your DreamBooth dataset/ folder with one sub-folder per subject"
    defaults = {
        "manifest": "dreambooth",
        "subjects": None,              # list or "a,b"; None = all in the manifest
        "prompt_set": "official",      # a key of the manifest's prompt_sets
        "prompts_per_subject": None,   # first N templates (the first 10 are shared by both lists)
        "max_reference_images": None,  # first N images (sorted by name) per subject
        "subject_token": None,         # None = the manifest's (sks)
        "available_only": False,       # keep only subjects whose folder exists under the root
    }

    def __init__(self, root: str | Path | None = None, **options: Any) -> None:
        if "available_only" in options:
            options["available_only"] = as_bool(options["available_only"], "available_only")
        super().__init__(root=root, **options)
        m = self.manifest
        self.subjects = self.select("subject(s)", parse_list(self.options["subjects"]), list(m.subjects))
        if self.options["prompt_set"] not in m.prompt_sets:
            raise ManifestError(f"{self.registry_name}: unknown prompt_set {self.options['prompt_set']!r} "
                                f"(manifest {self.manifest_path.name} has: {', '.join(m.prompt_sets)})")
        self.n_prompts = _positive_int_or_none(self.options["prompts_per_subject"], "prompts_per_subject")
        self.n_images = _positive_int_or_none(self.options["max_reference_images"], "max_reference_images")
        self.token = self.options["subject_token"] or m.subject_token
        if self.options["available_only"]:
            self.subjects = [s for s in self.subjects if self.subject_dir(s).is_dir()]

    def images_root(self) -> Path:
        root = self.require_root()
        names = list(self.manifest.subjects)
        return find_subroot(root, ("", "dataset", "dreambooth", "dreambooth/dataset"),
                            lambda p: any((p / n).is_dir() for n in names))

    def subject_dir(self, subject: str) -> Path:
        return self.images_root() / subject

    def templates(self, subject: str) -> list[str]:
        group = "live" if self.manifest.subjects[subject].live else "object"
        templates = self.manifest.prompt_sets[self.options["prompt_set"]][group]
        return templates[: self.n_prompts] if self.n_prompts else templates

    def cases(self) -> list[PersonalizationCase]:
        out = []
        for subject in self.subjects:
            info = self.manifest.subjects[subject]
            folder = self.subject_dir(subject)
            files = _image_files(folder)[: self.n_images] if self.n_images else _image_files(folder)
            refs = SubjectImages(tuple(files), folder=folder)
            for i, template in enumerate(self.templates(subject)):
                prompt = template.format(token=self.token, class_noun=info.class_noun)
                out.append(PersonalizationCase(
                    case_id=f"{subject}/{i:02d}", subject_name=subject, class_noun=info.class_noun,
                    prompt=prompt, reference_images=refs, subject_token=self.token,
                    category="live" if info.live else "object",
                    meta=self.provenance(prompt_set=self.options["prompt_set"], template_index=i,
                                         template=template, num_reference_images=len(files))))
        return out

    def check(self) -> list[str]:
        if (problem := self.root_problem()):
            return [problem]
        problems = []
        for subject in self.subjects:
            folder = self.subject_dir(subject)
            files = _image_files(folder)
            if not folder.is_dir():
                problems.append(f"{subject}: reference image folder {folder} not found")
                continue
            if not files:
                problems.append(f"{subject}: reference image folder {folder} holds no images")
                continue
            for f in files[: self.n_images] if self.n_images else files:
                try:
                    image_size(f)
                except ProbeError as exc:
                    problems.append(f"{subject}: {exc}")
        return problems
