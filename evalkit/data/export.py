"""Export a suite's inputs for a method author who generates elsewhere (``evalkit data export``).

Layout of the output folder (a case id ``blackswan/subject`` is the nested path
``blackswan/subject``, the layout the ``videos`` generator reads a submission in):

- ``cases.jsonl``: one line per case: id, kind, category, prompts, subject words, seeds, the
  source's frame count / fps / size, the output the protocol expects (frames, fps, size: the
  source's unless overridden) and where the ``videos`` generator will look for each output;
- ``sources/<case_id>.mp4``: each motion-transfer source, lossless (exact frames), so copying
  ``sources/`` as a submission folder scores exactly like the ``copy`` generator;
- ``masks/<case_id>/00000.png ...``: source subject masks, where the case has them;
- ``references/<case_id>/<i>.png``: a personalization case's reference images.

Nothing is written in place: the export is written into a hidden staging folder next to
``out`` and moved into place when complete, so a failed export leaves neither a half-written
folder nor temporary files (and a second export replaces the first's files).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Sequence, cast

import numpy as np

from ..case_ids import check_case_id
from ..cases import Case, MotionTransferCase, MultiShotCase, PersonalizationCase
from ..errors import EvalkitError
from ..submissions import expected_paths
from ..video import Video, write_video

#: what an export writes under its folder (replaced as a whole by a new export)
EXPORT_ENTRIES = ("cases.jsonl", "sources", "masks", "references")


def _save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")


#: the case kinds an export writes (a case's ``kind`` names its class; casts follow it)
KnownCase = MotionTransferCase | MultiShotCase | PersonalizationCase


def _prompts(case: Case) -> dict[str, Any]:
    if case.kind == "motion-transfer":
        mt = cast(MotionTransferCase, case)
        return {"target_prompt": mt.target_prompt, "source_prompt": mt.source_prompt,
                "subject": mt.subject, "source_subject": mt.source_subject}
    if case.kind == "multi-shot":
        ms = cast(MultiShotCase, case)
        return {"prompts": list(ms.prompts), "subject": ms.subject}
    pc = cast(PersonalizationCase, case)
    return {"prompt": pc.prompt, "subject_name": pc.subject_name, "class_noun": pc.class_noun,
            "subject_token": pc.subject_token}


def _video_facts(video: Video) -> dict[str, Any]:
    return {"frames": video.num_frames, "fps": video.fps, "height": video.height, "width": video.width}


class _Writer:
    """Writes under the staging folder; a source or mask set shared by several cases (DAVIS's
    three prompts of one sequence) is encoded once and copied."""

    def __init__(self, stage: Path) -> None:
        self.stage = stage
        self.done: dict[int, tuple[Path, Any]] = {}   # id(source object) -> (written path, facts)

    def once(self, obj: Any, rel: str, write) -> Any:
        target = self.stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if id(obj) in self.done:
            first, facts = self.done[id(obj)]
            (shutil.copytree if first.is_dir() else shutil.copyfile)(first, target)
            return facts
        facts = write(target)
        self.done[id(obj)] = (target, facts)
        return facts


def _source(writer: _Writer, case: MotionTransferCase, record: dict, protocol: dict) -> None:
    def write(target: Path) -> dict:
        source = case.source.load()
        write_video(source, target, lossless=True)
        return _video_facts(source)

    facts = writer.once(case.source, f"sources/{case.case_id}.mp4", write)
    record["source"] = {"path": f"sources/{case.case_id}.mp4", **facts}
    record["expected"] = {**facts, **protocol}
    if case.source_mask is not None:
        def masks(target: Path) -> None:
            for i, mask in enumerate(case.source_mask.load()):
                _save_png(mask.astype(np.uint8) * 255, target / f"{i:05d}.png")

        writer.once(case.source_mask, f"masks/{case.case_id}", masks)
        record["source"]["masks"] = f"masks/{case.case_id}"


def export_cases(cases: Sequence[Case], out: str | os.PathLike, *, seeds: Sequence[int] = (0,),
                 protocol: dict[str, Any] | None = None) -> Path:
    """Write the inputs of ``cases`` under ``out``; returns the path of ``cases.jsonl``.

    ``protocol`` overrides the expected output (keys ``frames``, ``fps``, ``height``, ``width``);
    by default a motion-transfer output is expected at its source's frame count, rate and size.
    """
    repeated = sorted(i for i, n in Counter(c.case_id for c in cases).items() if n > 1)
    if repeated:
        raise EvalkitError(f"{len(repeated)} case id(s) used by several cases: {', '.join(repeated[:5])}; "
                           f"an export needs one file per id")
    if len(set(seeds)) != len(seeds):
        raise EvalkitError(f"seeds {', '.join(map(str, seeds))} repeat a seed")
    for case in cases:
        check_case_id(case.case_id)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.export-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)   # mkdtemp's 0700 would become the export folder's mode
    try:
        writer, lines = _Writer(stage), []
        for case in cases:
            category = cast(KnownCase, case).category
            record: dict[str, Any] = {"case_id": case.case_id, "kind": case.kind, "category": category,
                                      **_prompts(case), "seeds": list(seeds),
                                      "outputs": {str(s): expected_paths(case, s) for s in seeds}}
            if case.kind == "motion-transfer":
                _source(writer, cast(MotionTransferCase, case), record, dict(protocol or {}))
            elif case.kind == "personalization":
                images = cast(PersonalizationCase, case).reference_images.load()
                for i, image in enumerate(images):
                    _save_png(image, stage / "references" / case.case_id / f"{i}.png")
                record["references"] = [f"references/{case.case_id}/{i}.png" for i in range(len(images))]
                record["expected"] = dict(protocol or {})
            else:
                record["expected"] = dict(protocol or {})
            lines.append(json.dumps(record, sort_keys=True))
        (stage / "cases.jsonl").write_text("\n".join(lines) + "\n")
        _move_into_place(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out / "cases.jsonl"


def _move_into_place(stage: Path, out: Path) -> None:
    """The staged export becomes ``out`` (a folder of other files keeps them; an earlier
    export's entries are replaced, never merged with the new ones)."""
    if not out.exists():
        os.replace(stage, out)
        return
    if not out.is_dir():
        raise EvalkitError(f"{out} exists and is not a folder")
    for name in EXPORT_ENTRIES:
        old = out / name
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
        if (stage / name).exists():
            os.replace(stage / name, old)
