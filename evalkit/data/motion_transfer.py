"""``motion-transfer``: a generic manifest of source videos and target prompts (WebVid /
DAVIS / web mixtures such as the Motion-Inversion benchmark), one case per (item, target).

Each target carries its subject words and a category; the default categories are Motion by
Queries Fig. 2's same-subject / different-subject split.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cases import FileMasks, FileVideo, MotionTransferCase
from ..registry import DATASETS
from .manifest import ManifestDataset, parse_list
from .probe import check_source
from .transforms import TransformedMasks, TransformedVideo, parse_transforms


@DATASETS.register("motion-transfer")
class MotionTransfer(ManifestDataset):
    case_kind = "motion-transfer"
    manifest_kind = "motion-transfer"
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

    def _path(self, rel: str) -> Path:
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self.require_root() / p

    def cases(self) -> list[MotionTransferCase]:
        out = []
        for item in self.items:
            fr = item.frame_range.to_frame_range() if item.frame_range else None
            source: Any = FileVideo(self._path(item.source), fr, fps=item.fps)
            masks: Any = FileMasks(self._path(item.masks), fr) if item.masks else None
            if self.transforms:
                source = TransformedVideo(source, self.transforms)
                masks = TransformedMasks(masks, self.transforms) if masks is not None else None
            meta = self.provenance(
                item=item.id, origin=item.origin,
                frame_range=[fr.start, fr.end, fr.step] if fr else None,
                transforms=[t.spec() for t in self.transforms])
            for j, t in enumerate(item.targets):
                if t.category and t.category not in self.categories:
                    continue
                if not t.category and self.options["categories"]:
                    continue
                out.append(MotionTransferCase(
                    case_id=f"{item.id}/{t.id or j}", source=source, target_prompt=t.prompt,
                    source_prompt=item.source_prompt, subject=t.subject,
                    source_subject=item.source_subject, category=t.category,
                    source_mask=masks, meta=meta))
        return out

    def check(self) -> list[str]:
        relative = any(not Path(p).expanduser().is_absolute()
                       for i in self.items for p in (i.source, i.masks) if p)
        if relative and (problem := self.root_problem()):  # a manifest of absolute paths needs no root
            return [problem]
        problems = []
        for item in self.items:
            fr = item.frame_range.to_frame_range() if item.frame_range else None
            masks = self._path(item.masks) if item.masks else None
            problems += check_source(item.id, self._path(item.source), fr, masks, masks_required=True)
        return problems
