"""``webvid``: WebVid-10M clips as motion-transfer sources, their captions as source prompts.

A manifest (kind ``webvid``) names the official metadata CSV (``videoid, contentUrl,
duration, page_dir, name``; the whole file or a subset) and, per clip, the target prompts:
explicit edits (the ``targets`` of the motion-transfer schema) and/or swaps built from the
caption: the caption's subject words (``source_subject``) or scene words (``source_scene``)
replaced by each entry of ``subject_swaps`` / ``scene_swaps``. Clips are read from the data
root in the official download layout ``<page_dir>/<videoid>.mp4`` or flat ``<videoid>.mp4``;
frames are selected by start / stride / count (24 by default, the length of the
Motion-Inversion benchmark's clips; Motion by Queries App. A.1.1: "short 16- or 24-frame
videos"). Added as one module plus one manifest (docs/datasets.md, "Adding a manifest dataset").
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from ..case_ids import check_id_segment
from ..cases import FileVideo, FrameRange, MotionTransferCase
from ..errors import ManifestError
from ..probe import ProbeError, probe_video
from ..registry import DATASETS
from .manifest import ManifestDataset, ManifestHeader, ManifestModel, parse_list
from .motion_transfer import MOTION_TRANSFER_CATEGORIES, MotionTarget, item_problems
from .transforms import TransformedVideo, parse_transforms
from .webvid_metadata import (
    UnavailableClip,
    WebVidRow,
    clip_path,
    find_clip_folder,
    missing_clip_message,
    read_metadata,
)

PROTOCOL_FRAMES = {"start": 0, "stride": 1, "count": 24}
SWAPS = ("subject", "scene")


class FrameSelection(ManifestModel):
    """Frames ``start, start + stride, ...``, ``count`` of them; unset fields of a clip's
    selection come from the manifest's, and those from PROTOCOL_FRAMES."""
    start: int | None = Field(default=None, ge=0)
    stride: int | None = Field(default=None, ge=1)
    count: int | None = Field(default=None, ge=2)


class WebVidClip(ManifestModel):
    videoid: str = Field(min_length=1)
    id: str = ""                 # case id prefix; default: the videoid
    source_subject: str = ""     # words of the caption naming the subject ("a brown bear")
    source_scene: str = ""       # words of the caption naming the scene ("on the rocks")
    template: str = ""           # a prompt with {subject} / {scene}; default: swaps edit the caption
    subject_swaps: list[str] = []
    scene_swaps: list[str] = []
    targets: list[MotionTarget] = []
    frames: FrameSelection = FrameSelection()

    @field_validator("videoid", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("videoid", "id")
    @classmethod
    def _id_chars(cls, v: str) -> str:
        return check_id_segment(v) if v else v   # it starts case ids, which name files

    @model_validator(mode="after")
    def _targets(self) -> "WebVidClip":
        problems = []
        if not (self.targets or self.subject_swaps or self.scene_swaps):
            problems.append(f"clip {self.videoid!r}: give targets, subject_swaps or scene_swaps")
        for what in SWAPS:
            swaps, words = getattr(self, f"{what}_swaps"), getattr(self, f"source_{what}")
            if swaps and not (words or f"{{{what}}}" in self.template):
                problems.append(f"clip {self.videoid!r}: {what}_swaps need source_{what} (the caption's "
                                f"{what} words) or a template with {{{what}}}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SwapCategories(ManifestModel):
    """Choice: a subject swap puts a new subject in the source's motion (different-subject); a
    scene swap keeps the subject (same-subject): Motion by Queries Fig. 2's split."""
    subject: str = "different-subject"
    scene: str = "same-subject"


class WebVidManifest(ManifestHeader):
    metadata: str = Field(min_length=1)  # the metadata CSV, relative to this manifest's folder or absolute
    frames: FrameSelection = FrameSelection(**PROTOCOL_FRAMES)
    categories: tuple[str, ...] = MOTION_TRANSFER_CATEGORIES
    swap_categories: SwapCategories = SwapCategories()
    clips: list[WebVidClip] = Field(min_length=1)


def _replace_once(text: str, words: str, placeholder: str) -> str | None:
    """``text`` with the first case-insensitive occurrence of ``words`` replaced (None: absent)."""
    match = re.search(re.escape(words), text, flags=re.IGNORECASE)
    return None if match is None else text[:match.start()] + placeholder + text[match.end():]


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


@DATASETS.register("webvid")
class WebVid(ManifestDataset):
    title = "WebVid motion transfer"   # how leaderboards name the benchmark
    case_kind = "motion-transfer"
    manifest_kind = "webvid"
    schema = WebVidManifest
    description = "WebVid-10M clips (official metadata CSV + downloaded clips) × edited captions"
    root_hint = "the folder of your downloaded WebVid clips (<page_dir>/<videoid>.mp4 or flat)"
    defaults = {
        "manifest": "webvid_sample",
        "metadata": None,     # path to a metadata CSV replacing the manifest's (e.g. results_2M_val.csv)
        "clips": None,        # subset of clip ids; None = all
        "categories": None,   # subset of the manifest's categories
        "num_frames": None,   # replaces every clip's frame count (e.g. 16 for VideoCrafter2)
        "transforms": "",     # e.g. "wan-frames" (see evalkit.data.transforms)
    }

    @classmethod
    def cross_checks(cls, data: dict) -> list[str]:
        cats = data.get("categories", MOTION_TRANSFER_CATEGORIES)
        cats = tuple(cats) if isinstance(cats, (list, tuple)) else MOTION_TRANSFER_CATEGORIES
        clips = data.get("clips")
        clips = [{**c, "id": c.get("id") or c.get("videoid")} if isinstance(c, dict) else c
                 for c in (clips if isinstance(clips, list) else [])]
        swaps = data.get("swap_categories")
        bad = [f"swap_categories.{k}: unknown category {v!r} (known: {', '.join(map(str, cats))})"
               for k, v in (swaps.items() if isinstance(swaps, dict) else ()) if k in SWAPS and v not in cats]
        return item_problems(clips, cats, "clips") + bad

    def __init__(self, root: str | Path | None = None, **options: Any) -> None:
        super().__init__(root=root, **options)
        m = self.manifest
        ids = self.select("clip(s)", parse_list(self.options["clips"]), [self.clip_id(c) for c in m.clips])
        self.clips = [c for c in m.clips if self.clip_id(c) in ids]
        self.categories = self.select("categor(y/ies)", parse_list(self.options["categories"]),
                                      list(m.categories))
        self.transforms = parse_transforms(self.options["transforms"])
        n = self.options["num_frames"]
        if n not in (None, "") and (not str(n).isdigit() or int(n) < 2):
            raise ManifestError(f"webvid: option num_frames={n!r} must be an integer >= 2")
        self.num_frames = int(n) if n not in (None, "") else None
        csv = Path(self.options["metadata"] or m.metadata).expanduser()
        self.metadata_path = csv if csv.is_absolute() or self.options["metadata"] else self.manifest_path.parent / csv
        self.rows = read_metadata(self.metadata_path, [c.videoid for c in self.clips])

    # -- per clip ----------------------------------------------------------------------------
    @staticmethod
    def clip_id(clip: WebVidClip) -> str:
        return clip.id or clip.videoid

    def selection(self, clip: WebVidClip) -> tuple[int, int, int]:
        """(start, stride, count): the clip's, else the manifest's, else the protocol's."""
        pick = [getattr(clip.frames, k) for k in PROTOCOL_FRAMES]
        pick = [p if p is not None else getattr(self.manifest.frames, k) for p, k in zip(pick, PROTOCOL_FRAMES)]
        start, stride, count = (p if p is not None else PROTOCOL_FRAMES[k] for p, k in zip(pick, PROTOCOL_FRAMES))
        return start, stride, self.num_frames or count

    def frame_range(self, clip: WebVidClip) -> FrameRange:
        start, stride, _ = self.selection(clip)
        return FrameRange(start, self.frames_needed(clip), stride)

    def frames_needed(self, clip: WebVidClip) -> int:
        """How many frames the clip must have: the end (exclusive) of its selection."""
        start, stride, count = self.selection(clip)
        return start + stride * (count - 1) + 1

    @staticmethod
    def swapped(clip: WebVidClip, row: WebVidRow, what: str, swap: str) -> str | None:
        """The prompt with the clip's ``what`` (subject / scene) replaced by ``swap``: in the
        clip's template, else in the caption (None when the caption lacks the words)."""
        words = {w: getattr(clip, f"source_{w}") for w in SWAPS} | {what: swap}
        if clip.template:
            return _sentence(clip.template.replace("{subject}", words["subject"]).replace("{scene}", words["scene"]))
        found = _replace_once(row.caption, getattr(clip, f"source_{what}"), swap)
        return None if found is None else _sentence(found)

    def content_problem(self, clip: WebVidClip) -> str:
        """Why this clip's cases cannot be built from the metadata ("" when they can)."""
        row = self.rows.get(clip.videoid)
        if row is None:
            return f"videoid {clip.videoid} is not in the metadata CSV {self.metadata_path}"
        for what in SWAPS:
            words = getattr(clip, f"source_{what}")
            if getattr(clip, f"{what}_swaps") and self.swapped(clip, row, what, "") is None:
                return f"source_{what} {words!r} does not occur in the caption {row.caption!r}"
        return ""

    def targets(self, clip: WebVidClip) -> list[tuple[str, str, str, str]]:
        """(target id, prompt, subject words, category) for every edit of the clip."""
        out = [(t.id or str(j), t.prompt, t.subject, t.category) for j, t in enumerate(clip.targets)]
        row = self.rows.get(clip.videoid)
        for what in SWAPS:
            for j, swap in enumerate(getattr(clip, f"{what}_swaps")):
                prompt = self.swapped(clip, row, what, swap) if row is not None else None
                subject = swap if what == "subject" else clip.source_subject
                # no prompt: the clip has a content problem and its source fails on load
                out.append((f"{what}-swap-{j}", prompt or swap, subject, getattr(self.manifest.swap_categories, what)))
        return out

    # -- the dataset ---------------------------------------------------------------------------
    def clip_folder(self) -> Path:
        return find_clip_folder(self.require_root(), self.rows.values())

    def cases(self) -> list[MotionTransferCase]:
        folder, out = None, []
        for clip in self.clips:
            row, cid, fr = self.rows.get(clip.videoid), self.clip_id(clip), self.frame_range(clip)
            if (problem := self.content_problem(clip)):
                source: Any = UnavailableClip(f"webvid {cid}: {problem}")
            else:
                folder = folder or self.clip_folder()
                # no content problem: the clip's row is in the metadata
                source = FileVideo(clip_path(folder, clip.videoid, self.rows[clip.videoid].page_dir), fr)
            if self.transforms:
                source = TransformedVideo(source, self.transforms)
            meta = self.provenance(
                clip=cid, videoid=clip.videoid, origin=f"WebVid {clip.videoid}", metadata=self.metadata_path.name,
                page_dir=row.page_dir if row else "", duration=row.duration if row else "",
                frames=list(self.selection(clip)), frame_range=[fr.start, fr.end, fr.step],
                transforms=[t.spec() for t in self.transforms])
            for tid, prompt, subject, category in self.targets(clip):
                if (category or self.options["categories"]) and category not in self.categories:
                    continue
                out.append(MotionTransferCase(
                    case_id=f"{cid}/{tid}", source=source, target_prompt=prompt,
                    source_prompt=row.caption if row else "", subject=subject,
                    source_subject=clip.source_subject, category=category, meta=meta))
        return out

    def check(self) -> list[str]:
        """Clips missing from the CSV or the folder, unreadable, too short: all at once."""
        if (problem := self.root_problem()):
            return [problem]
        folder, problems = self.clip_folder(), []
        for clip in self.clips:
            cid = self.clip_id(clip)
            if (problem := self.content_problem(clip)):
                problems.append(f"{cid}: {problem}")
                continue
            page_dir = self.rows[clip.videoid].page_dir
            path = clip_path(folder, clip.videoid, page_dir)
            if not path.exists():
                problems.append(f"{cid}: {missing_clip_message(folder, clip.videoid, page_dir)}")
                continue
            try:
                frames = probe_video(path).num_frames
            except ProbeError as exc:
                problems.append(f"{cid}: {exc}")
                continue
            start, stride, count = self.selection(clip)
            if frames < (need := self.frames_needed(clip)):
                problems.append(f"{cid}: clip {path} too short: {frames} frames, the selection needs {need} "
                                f"(start {start}, stride {stride}, count {count})")
        return problems
