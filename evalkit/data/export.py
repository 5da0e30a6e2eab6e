"""Export a suite's inputs for a method author who generates elsewhere (``evalkit data export``).

Layout of the output folder:

- ``cases.jsonl``: one line per case: id, kind, category, prompts, subject words, seeds, the
  source's frame count / fps / size, the output the protocol expects (frames, fps, size: the
  source's unless overridden) and where the ``videos`` generator will look for each output;
- ``sources/<case_id>.mp4``: each motion-transfer source, lossless (exact frames), so copying
  ``sources/`` as a submission folder scores exactly like the ``copy`` generator;
- ``masks/<case_id>/00000.png ...``: source subject masks, where the case has them;
- ``references/<case_id>/<i>.png``: a personalization case's reference images.

Nothing is written in place: each file is written to a temporary name and renamed.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..cases import Case
from ..errors import EvalkitError
from ..submissions import expected_paths
from ..video import Video, write_video


def _safe_id(case_id: str) -> str:
    if not case_id or "/" in case_id or "\\" in case_id or case_id.startswith("."):
        raise EvalkitError(f"case id {case_id!r} cannot name a file (no path separators or leading dot)")
    return case_id


def _save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    Image.fromarray(image).save(tmp, format="PNG")
    os.replace(tmp, path)


def _prompts(case: Case) -> dict[str, Any]:
    if case.kind == "motion-transfer":
        return {"target_prompt": case.target_prompt, "source_prompt": case.source_prompt,
                "subject": case.subject, "source_subject": case.source_subject}
    if case.kind == "multi-shot":
        return {"prompts": list(case.prompts), "subject": case.subject}
    return {"prompt": case.prompt, "subject_name": case.subject_name, "class_noun": case.class_noun,
            "subject_token": case.subject_token}


def _video_facts(video: Video) -> dict[str, Any]:
    return {"frames": video.num_frames, "fps": video.fps, "height": video.height, "width": video.width}


def export_cases(cases: Sequence[Case], out: str | os.PathLike, *, seeds: Sequence[int] = (0,),
                 protocol: dict[str, Any] | None = None) -> Path:
    """Write the inputs of ``cases`` under ``out``; returns the path of ``cases.jsonl``.

    ``protocol`` overrides the expected output (keys ``frames``, ``fps``, ``height``, ``width``);
    by default a motion-transfer output is expected at its source's frame count, rate and size.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for case in cases:
        cid = _safe_id(case.case_id)
        record: dict[str, Any] = {"case_id": cid, "kind": case.kind, "category": case.category,
                                  **_prompts(case), "seeds": list(seeds),
                                  "outputs": {str(s): expected_paths(case, s) for s in seeds}}
        if case.kind == "motion-transfer":
            source = case.source.load()
            write_video(source, out / "sources" / f"{cid}.mp4", lossless=True)
            record["source"] = {"path": f"sources/{cid}.mp4", **_video_facts(source)}
            record["expected"] = {**_video_facts(source), **(protocol or {})}
            if case.source_mask is not None:
                for i, mask in enumerate(case.source_mask.load()):
                    _save_png(mask.astype(np.uint8) * 255, out / "masks" / cid / f"{i:05d}.png")
                record["source"]["masks"] = f"masks/{cid}"
        elif case.kind == "personalization":
            images = case.reference_images.load()
            for i, image in enumerate(images):
                _save_png(image, out / "references" / cid / f"{i}.png")
            record["references"] = [f"references/{cid}/{i}.png" for i in range(len(images))]
            record["expected"] = dict(protocol or {})
        else:
            record["expected"] = dict(protocol or {})
        lines.append(json.dumps(record, sort_keys=True))
    target = out / "cases.jsonl"
    fd, tmp = tempfile.mkstemp(suffix=".jsonl", dir=out)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, target)
    return target
