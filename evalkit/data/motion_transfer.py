"""``motion-transfer``: a generic manifest of source videos and target prompts (WebVid /
DAVIS / web mixtures such as the Motion-Inversion benchmark), one case per (item, target).

Each target carries its subject words and a category; the default categories are Motion by
Queries Fig. 2's same-subject / different-subject split. An item may name a WebVid clip by
its ``webvid`` videoid instead of a ``source`` path: the clip is found through the manifest's
``webvid`` block (the official metadata CSV and the clip folder) and its caption is the
default source prompt, so one manifest mixes WebVid and DAVIS sources.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from ..case_ids import check_id_segment
from ..cases import FileMasks, FileVideo, MotionTransferCase
from ..probe import check_source
from ..registry import DATASETS
from .manifest import FrameRangeSpec, IdSegment, ManifestDataset, ManifestHeader, ManifestModel, parse_list
from .transforms import TransformedMasks, TransformedVideo, parse_transforms
from .webvid_metadata import UnavailableClip, clip_path, find_clip_folder, missing_clip_message, read_metadata

MOTION_TRANSFER_CATEGORIES = ("same-subject", "different-subject")


class MotionTarget(ManifestModel):
    id: str = ""   # "" : the target's index
    prompt: str = Field(min_length=1)
    subject: str = ""
    category: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id_segment(v) if v else v   # it ends case ids, which name files


class MotionTransferItem(ManifestModel):
    id: IdSegment = Field(min_length=1)
    source: str = ""                    # path relative to the data root (mp4 or frame folder) ...
    webvid: str = ""                    # ... or a WebVid videoid (see the manifest's `webvid`)
    origin: str = ""                    # where the video comes from (dataset + id), no URL needed
    masks: str | None = None            # optional mask folder/image relative to the root
    frame_range: FrameRangeSpec | None = None
    fps: float | None = Field(None, gt=0)  # frame folders only
    source_prompt: str = ""
    source_subject: str = ""
    targets: list[MotionTarget] = Field(min_length=1)

    @field_validator("webvid", mode="before")
    @classmethod
    def _videoid_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class WebVidFolder(ManifestModel):
    metadata: str = Field(min_length=1)  # official metadata CSV (or a subset): relative to the manifest, or absolute
    clips: str = ""                      # clip folder relative to the data root; "" = looked for under it


class MotionTransferManifest(ManifestHeader):
    categories: tuple[str, ...] = MOTION_TRANSFER_CATEGORIES
    webvid: WebVidFolder | None = None   # needed by items that name a `webvid` videoid
    items: list[MotionTransferItem] = Field(min_length=1)


def item_problems(items: Any, categories: tuple[str, ...], what: str = "items") -> list[str]:
    """Duplicate item / target ids and unknown target categories in raw manifest ``items``."""
    problems = []
    seen: set = set()
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        label = f"{what}.{i} ({item.get('id')})"
        if item.get("id") in seen:
            problems.append(f"{label}: duplicate item id")
        seen.add(item.get("id"))
        targets = item.get("targets")
        targets = targets if isinstance(targets, list) else []
        tids = [t.get("id") for t in targets if isinstance(t, dict) and t.get("id")]
        if len(set(tids)) != len(tids):
            problems.append(f"{label}: duplicate target ids")
        for j, t in enumerate(targets):
            cat = t.get("category") if isinstance(t, dict) else None
            if cat and cat not in categories:
                problems.append(f"{label}.targets.{j}: unknown category {cat!r} (known: {', '.join(categories)})")
    return problems


@DATASETS.register("motion-transfer")
class MotionTransfer(ManifestDataset):
    title = "Motion transfer"   # how leaderboards name the benchmark
    case_kind = "motion-transfer"
    manifest_kind = "motion-transfer"
    schema = MotionTransferManifest
    description = "source videos × target prompts from a manifest (Motion-Inversion style)"
    root_hint = "the folder the manifest's source paths are relative to"
    defaults = {
        "manifest": "motion_transfer_public",
        "items": None,        # list or "a,b"; None = all
        "categories": None,   # subset of the manifest's categories
        "transforms": "",     # e.g. "wan-frames" (see evalkit.data.transforms)
    }

    def __init__(self, root: str | Path | None = None, **options: Any) -> None:
        super().__init__(root=root, **options)
        m = self.manifest
        ids = self.select("item(s)", parse_list(self.options["items"]), [i.id for i in m.items])
        self.items = [i for i in m.items if i.id in ids]
        self.categories = self.select("categor(y/ies)", parse_list(self.options["categories"]),
                                      list(m.categories))
        self.transforms = parse_transforms(self.options["transforms"])
        self.webvid_rows, self.metadata_path = {}, None
        if m.webvid is not None and any(i.webvid for i in self.items):
            csv = Path(m.webvid.metadata).expanduser()
            self.metadata_path = csv if csv.is_absolute() else self.manifest_path.parent / csv
            self.webvid_rows = read_metadata(self.metadata_path, [i.webvid for i in self.items if i.webvid])

    @classmethod
    def cross_checks(cls, data: dict) -> list[str]:
        cats = data.get("categories", MOTION_TRANSFER_CATEGORIES)
        cats = tuple(cats) if isinstance(cats, (list, tuple)) else MOTION_TRANSFER_CATEGORIES
        raw_items = data.get("items")
        items = [(i, item) for i, item in enumerate(raw_items if isinstance(raw_items, list) else [])
                 if isinstance(item, dict)]
        # read from the raw data: a model validator would stay silent when another field fails
        sources = [f"items.{i}.source: required field missing (or 'webvid': a WebVid videoid)"
                   for i, item in items if not (item.get("source") or item.get("webvid"))]
        sources += [f"items.{i} ({item.get('id')}): a webvid clip needs the manifest's 'webvid' block "
                    "(metadata CSV and clip folder)"
                    for i, item in items if item.get("webvid") and not data.get("webvid")]
        return item_problems(data.get("items"), cats) + sources

    def _path(self, rel: str) -> Path:
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self.require_root() / p

    def webvid_folder(self) -> Path:
        clips = self.manifest.webvid.clips
        return self._path(clips) if clips else find_clip_folder(self.require_root(), self.webvid_rows.values())

    def webvid_problem(self, item: MotionTransferItem) -> str:
        if item.webvid and item.webvid not in self.webvid_rows:
            return f"{item.id}: webvid videoid {item.webvid} is not in the metadata CSV {self.metadata_path}"
        return ""

    def source_path(self, item: MotionTransferItem) -> Path:
        if item.source:
            return self._path(item.source)
        return clip_path(self.webvid_folder(), item.webvid, self.webvid_rows[item.webvid].page_dir)

    def cases(self) -> list[MotionTransferCase]:
        out = []
        for item in self.items:
            fr = item.frame_range.to_frame_range() if item.frame_range else None
            problem, row = self.webvid_problem(item), self.webvid_rows.get(item.webvid)
            source: Any = UnavailableClip(problem) if problem else FileVideo(self.source_path(item), fr, fps=item.fps)
            masks: Any = FileMasks(self._path(item.masks), fr) if item.masks else None
            if self.transforms:
                source = TransformedVideo(source, self.transforms)
                masks = TransformedMasks(masks, self.transforms) if masks is not None else None
            webvid = {"webvid": item.webvid} if item.webvid else {}  # other items keep their case hash
            meta = self.provenance(
                item=item.id, origin=item.origin or (f"WebVid {item.webvid}" if item.webvid else ""),
                frame_range=[fr.start, fr.end, fr.step] if fr else None,
                transforms=[t.spec() for t in self.transforms], **webvid)
            source_prompt = item.source_prompt or (row.caption if row else "")
            for j, t in enumerate(item.targets):
                if t.category and t.category not in self.categories:
                    continue
                if not t.category and self.options["categories"]:
                    continue
                out.append(MotionTransferCase(
                    case_id=f"{item.id}/{t.id or j}", source=source, target_prompt=t.prompt,
                    source_prompt=source_prompt, subject=t.subject,
                    source_subject=item.source_subject, category=t.category,
                    source_mask=masks, meta=meta))
        return out

    def check(self) -> list[str]:
        relative = any(not Path(p).expanduser().is_absolute()
                       for i in self.items for p in (i.source, i.masks) if p)
        relative = relative or any(i.webvid and not i.source for i in self.items)  # clips: under the root
        if relative and (problem := self.root_problem()):  # a manifest of absolute paths needs no root
            return [problem]
        problems = []
        for item in self.items:
            if (problem := self.webvid_problem(item)):
                problems.append(problem)
                continue
            path = self.source_path(item)
            if item.webvid and not item.source and not path.exists():
                row = self.webvid_rows[item.webvid]
                missing = missing_clip_message(self.webvid_folder(), item.webvid, row.page_dir)
                problems.append(f"{item.id}: webvid {missing}")
                continue
            fr = item.frame_range.to_frame_range() if item.frame_range else None
            masks = self._path(item.masks) if item.masks else None
            problems += check_source(item.id, path, fr, masks, masks_required=True)
        return problems
