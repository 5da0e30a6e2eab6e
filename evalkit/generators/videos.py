"""``videos``: a method's pre-generated outputs read from a folder (a submission).

Layout of ``dir`` (one of, per case; ``<case_id>`` as ``evalkit data export`` writes it):

- ``<case_id>.mp4`` (or a frame folder ``<case_id>/00000.png ...``): seed 0;
- ``<case_id>/seed<k>.mp4`` (or ``<case_id>/seed<k>/`` frames): seed ``k`` (0 too);
- multi-shot sets: ``<case_id>/shot<j>.mp4`` (seed 0) or ``<case_id>/seed<k>/shot<j>.mp4``;
- MTBench's output layout, for a motion-transfer case with none of the above:
  ``<prompt with underscores>/*.mp4`` (``evalkit.mtbench_layout``; the folder of an ``mtbench``
  case is its ``meta["output_dir"]``): seed ``k`` is ``seed<k>.mp4`` (or ``<k>.mp4``) where one
  is named so, else the k-th ``.mp4`` in name order (MTBench scores every video of the folder);
- ``submission.yaml`` (optional): method, paper, backbone, resolution ``[H, W]``, fps, seeds,
  code URL/commit, notes. It enters the run's provenance and the leaderboard.

Every item's cache key includes the content digest of its file(s) (``input_fingerprint``), so
replacing one video recomputes exactly that item. ``preflight`` lists every missing, extra,
unreadable or wrongly sized file at once before the run; at run time a missing or corrupt
file fails its item with the reason and the rest goes on.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..cases import Case, Generation, StageTimings, path_digest
from ..errors import EvalkitError, InvalidInputError
from ..hashing import stable_hash
from ..mtbench_layout import case_output_dir
from ..probe import ProbeError, probe_video
from ..registry import GENERATORS
from ..video import FRAME_SUFFIXES, read_video
from .base import Generator

SUBMISSION_FILE = "submission.yaml"
SUBMISSION_KEYS = ("method", "paper", "backbone", "resolution", "fps", "seeds", "code_url", "commit", "notes")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".gif")


def _is_video(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() in VIDEO_SUFFIXES
    return path.is_dir() and any(p.suffix.lower() in FRAME_SUFFIXES for p in path.iterdir())


def _find(base: Path) -> Path | None:
    """``base.<video suffix>`` or a frame folder ``base/``."""
    for suffix in VIDEO_SUFFIXES:
        if (p := base.with_name(base.name + suffix)).is_file():
            return p
    return base if base.is_dir() and _is_video(base) else None


def mtbench_file(folder: Path, seed: int) -> Path | None:
    """Seed ``seed``'s video in an MTBench prompt folder (see the module docstring)."""
    videos = sorted(p for p in folder.iterdir() if p.suffix == ".mp4" and p.is_file()) if folder.is_dir() else []
    named = [p for p in videos if p.stem.removeprefix("seed").isdigit() and int(p.stem.removeprefix("seed")) == seed]
    return named[0] if named else (videos[seed] if seed < len(videos) else None)


def expected_paths(case: Case, seed: int) -> list[str]:
    """Where a submission puts (case, seed)'s video(s), relative to its folder (mp4 named):
    MTBench's output layout for a case whose dataset says so (``meta["output_layout"]``)."""
    if case.kind == "motion-transfer" and case.meta.get("output_layout") == "mtbench":
        return [f"{case_output_dir(case)}/seed{seed}.mp4"]
    base = case.case_id if seed == 0 else f"{case.case_id}/seed{seed}"
    if case.kind == "multi-shot":
        return [f"{base}/shot{j}.mp4" for j in range(len(case.prompts))]
    return [f"{base}.mp4"]


@GENERATORS.register("videos")
class SubmittedVideos(Generator):
    """Reads each case's output from ``dir``; ``name`` is the label results are reported under."""
    case_kinds = ("motion-transfer", "multi-shot", "personalization")
    defaults = {"dir": None, "name": None, "fps": None}

    def __init__(self, device: str = "cpu", **options: Any) -> None:
        super().__init__(device=device, **options)
        if not self.options["dir"]:
            raise EvalkitError("videos: option dir=FOLDER is required (the method's outputs)")
        self.root = Path(str(self.options["dir"])).expanduser()
        if not self.root.is_dir():
            raise EvalkitError(f"videos: {self.root} is not a folder")
        self.submission = self._read_submission()
        name = self.options["name"] or self.submission.get("method") or self.root.name
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+\-]*", str(name)):
            raise EvalkitError(f"videos: name {name!r} must be letters, digits and . _ + - (it labels the results)")
        self.name = str(name)

    # -- what identifies this generator -----------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        # the folder's location is not part of the identity: its content is (input_fingerprint)
        return {"name": self.registry_name, "version": self.version, "label": self.name,
                "fps": self.options["fps"]}

    def label(self, *tags: str) -> str:
        return self.name

    def provenance(self) -> dict[str, Any]:
        return {"submission": self.submission, "dir": str(self.root.resolve())}

    def _read_submission(self) -> dict[str, Any]:
        path = self.root / SUBMISSION_FILE
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise EvalkitError(f"{path}: invalid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise EvalkitError(f"{path}: expected a mapping of {', '.join(SUBMISSION_KEYS)}")
        unknown = sorted(set(data) - set(SUBMISSION_KEYS))
        if unknown:
            raise EvalkitError(f"{path}: unknown key(s) {unknown}; known: {', '.join(SUBMISSION_KEYS)}")
        res = data.get("resolution")
        if res is not None and not (isinstance(res, list) and len(res) == 2 and all(isinstance(v, int) for v in res)):
            raise EvalkitError(f"{path}: resolution must be [height, width], got {res!r}")
        return data

    # -- where each item's files are ------------------------------------------------------
    def files(self, case: Case, seed: int) -> list[Path | None]:
        """The file of each video of (case, seed), None where it is missing. Flat files
        (``<case_id>.mp4``, ``<case_id>/shot<j>.mp4``) are seed 0; other seeds need ``seed<k>``."""
        case_dir = self.root / case.case_id
        if case.kind == "multi-shot":
            folder = case_dir / f"seed{seed}"
            if not folder.is_dir():
                folder = case_dir if seed == 0 else None
            return [_find(folder / f"shot{j}") if folder else None for j in range(len(case.prompts))]
        found = _find(case_dir / f"seed{seed}") or (_find(case_dir) if seed == 0 else None)
        if found is None and case.kind == "motion-transfer":
            found = mtbench_file(self.root / case_output_dir(case), seed)
        return [found]

    def input_fingerprint(self, case: Case, seed: int) -> str:
        return stable_hash([path_digest(p) if p else "missing" for p in self.files(case, seed)])

    # -- checks before the run ------------------------------------------------------------
    def preflight(self, cases: Sequence[Case], seeds: Sequence[int]) -> list[str]:
        """Every problem of the submission at once: missing, unreadable, wrongly sized, extra."""
        problems, used = [], set()
        want = self.submission.get("resolution")
        for case in cases:
            if case.kind not in self.case_kinds:
                continue
            for seed in seeds:
                for path, expected in zip(self.files(case, seed), expected_paths(case, seed)):
                    if path is None:
                        problems.append(f"{case.case_id} (seed {seed}): missing {self.root / expected}")
                        continue
                    used.add(path.resolve())
                    try:
                        probe = probe_video(path)
                    except ProbeError as exc:
                        problems.append(f"{case.case_id} (seed {seed}): {exc}")
                        continue
                    if want and [probe.height, probe.width] != list(want):
                        problems.append(f"{case.case_id} (seed {seed}): {path} is {probe.height}x{probe.width}, "
                                        f"{SUBMISSION_FILE} declares {want[0]}x{want[1]}")
        for extra in self._extra_files(used):
            problems.append(f"extra file not matching any case: {extra}")
        return problems

    def _extra_files(self, used: set[Path]) -> list[Path]:
        """Files no item reads (a stray frame counts once, as its folder)."""
        extra: set[Path] = set()
        for path in self.root.rglob("*"):
            real = path.resolve()
            if not path.is_file() or path.name == SUBMISSION_FILE or real in used or real.parent in used:
                continue
            extra.add(path.parent if path.suffix.lower() in FRAME_SUFFIXES else path)
        return sorted(extra)

    # -- the item ----------------------------------------------------------------------------
    def generate(self, case: Case, seed: int) -> Generation:
        paths = self.files(case, seed)
        missing = [e for p, e in zip(paths, expected_paths(case, seed)) if p is None]
        if missing:
            raise InvalidInputError(f"{case.case_id}: submission {self.root} has no {', '.join(missing)}")
        fps = self.options["fps"] or self.submission.get("fps")
        videos = tuple(read_video(p, fps=float(fps) if fps else None) for p in paths)
        return Generation(videos, StageTimings(), extras={"submission": self.name,
                                                          "files": [str(p) for p in paths]})
