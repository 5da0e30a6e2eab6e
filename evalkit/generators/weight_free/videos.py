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
  code URL/commit, notes. It enters the run's provenance and the leaderboard. It is validated
  when the generator is built (:class:`SubmissionInfo`: every problem, one line each), so a bad
  value (``fps: fast``) stops the run before any item is cached.

Every item's cache key includes everything that determines its frames (``input_fingerprint``):
the content digest of its file(s), the frame rate given to frame folders (the ``fps`` option,
else the declared ``fps``) and the declared resolution, so replacing one video recomputes
exactly that item and editing ``submission.yaml`` never replays values of the old one.
``preflight`` lists every missing, extra, unreadable or wrongly sized file at once before the
run; at run time a missing, corrupt or wrongly sized file fails its item with the reason and
the rest goes on. Paths stay inside ``dir``: a symlink that resolves outside it (or loops) is
refused like a missing file.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from evalkit.case_ids import confined
from evalkit.cases import Case, Generation, StageTimings, path_digest
from evalkit.errors import EvalkitError, InvalidInputError
from evalkit.hashing import stable_hash
from evalkit.metrics.time_alignment import align_counts
from evalkit.mtbench_layout import case_output_dir
from evalkit.probe import ProbeError, probe_video
from evalkit.protocol import Facts, output_warnings
from evalkit.registry import GENERATORS
from evalkit.submissions import SUBMISSION_FILE, expected_paths, find_video, mtbench_file
from evalkit.video import FRAME_FOLDER_FPS, FRAME_SUFFIXES, read_video

from ..base import Generator


class SubmissionInfo(BaseModel):
    """The schema of ``submission.yaml``: unknown keys and wrongly typed values are errors."""
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    method: str = ""
    paper: str = ""
    backbone: str = ""
    resolution: tuple[int, int] | None = None          # [height, width] of every video
    fps: float | None = None                            # the rate of frame folders (containers carry theirs)
    seeds: list[int] = []
    code_url: str = ""
    commit: str = ""
    notes: str = ""

    @field_validator("fps", mode="before")
    @classmethod
    def _fps(cls, v: Any) -> Any:
        if isinstance(v, bool) or (v is not None and not isinstance(v, (int, float))):
            raise ValueError(f"must be a number of frames per second, got {v!r}")
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"must be a positive, finite number, got {v!r}")
        return float(v) if v is not None else v

    @field_validator("resolution", mode="before")
    @classmethod
    def _resolution(cls, v: Any) -> Any:
        if v is not None and not (isinstance(v, (list, tuple)) and len(v) == 2
                                  and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)):
            raise ValueError(f"must be [height, width] in pixels, got {v!r}")
        return tuple(v) if v is not None else v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        if not (isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)):
            raise ValueError(f"must be a list of integers ≥ 0, got {v!r}")
        return v


SUBMISSION_KEYS = tuple(SubmissionInfo.model_fields)


def read_submission(path: Path) -> dict[str, Any]:
    """``submission.yaml`` validated (keys as written; {} when absent); every problem in one
    EvalkitError, one line each."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise EvalkitError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise EvalkitError(f"{path}: expected a mapping of {', '.join(SUBMISSION_KEYS)}")
    data = {str(k): v for k, v in data.items()}
    for key in ("method", "paper", "backbone", "code_url", "commit", "notes"):
        if isinstance(data.get(key), (int, float)) and not isinstance(data.get(key), bool):
            data[key] = str(data[key])   # `commit: 1234567`, `paper: 2024` read as numbers by YAML
    try:
        SubmissionInfo.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"][:1])
            if err["type"] == "extra_forbidden":
                lines.append(f"unknown key {where!r} (known: {', '.join(SUBMISSION_KEYS)})")
            else:
                lines.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
        lines = list(dict.fromkeys(lines))
        head = f"{path}: {len(lines)} problem(s)\n  " if len(lines) > 1 else f"{path}: "
        raise EvalkitError(head + "\n  ".join(lines)) from None
    return data


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
        self.submission = read_submission(self.root / SUBMISSION_FILE)
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

    @property
    def frame_rate(self) -> float | None:
        """The rate given to frame folders: the ``fps`` option, else the declared ``fps``."""
        fps = self.options["fps"] or self.submission.get("fps")
        return float(fps) if fps else None

    def label(self, *tags: str) -> str:
        return self.name

    def provenance(self) -> dict[str, Any]:
        return {"submission": self.submission, "dir": str(self.root.resolve())}

    # -- where each item's files are ------------------------------------------------------
    def files(self, case: Case, seed: int) -> list[Path | None]:
        """The file of each video of (case, seed), None where it is missing. Flat files
        (``<case_id>.mp4``, ``<case_id>/shot<j>.mp4``) are seed 0; other seeds need ``seed<k>``."""
        case_dir = self.root / case.case_id
        if case.kind == "multi-shot":
            folder = case_dir / f"seed{seed}"
            if not folder.is_dir():
                folder = case_dir if seed == 0 else None
            return [find_video(folder / f"shot{j}") if folder else None for j in range(len(case.prompts))]
        found = find_video(case_dir / f"seed{seed}") or (find_video(case_dir) if seed == 0 else None)
        if found is None and case.kind == "motion-transfer":
            found = mtbench_file(self.root / case_output_dir(case), seed)
        return [found]

    def inside(self, path: Path) -> Path:
        """``path`` with its symlinks resolved, refused (InvalidInputError) outside ``dir``."""
        return confined(self.root, path, "submitted video")

    def input_fingerprint(self, case: Case, seed: int) -> str:
        """Everything besides the config that determines the item's frames: each file's content,
        the frame-folder rate and the declared resolution (checked against every video)."""
        digests = []
        for p in self.files(case, seed):
            try:
                digests.append(path_digest(self.inside(p)) if p else "missing")
            except InvalidInputError as exc:
                digests.append(f"refused:{exc}")
        return stable_hash(digests, self.frame_rate, self.submission.get("resolution"))

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
                    try:
                        used.add(self.inside(path))
                        probe = probe_video(path)
                    except (ProbeError, InvalidInputError) as exc:
                        problems.append(f"{case.case_id} (seed {seed}): {exc}")
                        continue
                    if want and [probe.height, probe.width] != list(want):
                        problems.append(f"{case.case_id} (seed {seed}): {path} is {probe.height}x{probe.width}, "
                                        f"{SUBMISSION_FILE} declares {want[0]}x{want[1]}")
        for extra in self._extra_files(used):
            problems.append(f"extra file not matching any case: {extra}")
        return problems

    def preflight_warnings(self, cases: Sequence[Case], seeds: Sequence[int]) -> list[str]:
        """The protocol warnings known before the run (``evalkit.protocol``): each readable
        motion-transfer output's rate, frame count and size against its source's, and a time
        alignment that would keep fewer than half of either video's frames."""
        warnings, sources = [], {}
        for case in cases:
            if case.kind != "motion-transfer":
                continue
            for seed in seeds:
                path = self.files(case, seed)[0]
                try:
                    probe = probe_video(self.inside(path)) if path else None
                    if probe is None:
                        continue
                    if id(case.source) not in sources:
                        sources[id(case.source)] = Facts.of(case.source.load())
                except (ProbeError, EvalkitError):
                    continue   # a problem the preflight lists, or the item's failure
                source = sources[id(case.source)]
                output = Facts(probe.num_frames, probe.fps or self.frame_rate or FRAME_FOLDER_FPS, probe.height,
                               probe.width)
                lines = output_warnings(source, output, what=str(path)) + [
                    f"{path}: {w}" for w in align_counts(source.frames, source.fps, output.frames,
                                                         output.fps).warnings()]
                warnings += [f"{case.case_id} (seed {seed}): {w}" for w in lines]
        return warnings

    def _extra_files(self, used: set[Path]) -> list[Path]:
        """Files no item reads (a stray frame counts once, as its folder)."""
        extra: set[Path] = set()
        for path in self.root.rglob("*"):
            try:
                real = path.resolve()
            except (RuntimeError, OSError):   # a symlink loop: no item can read it
                extra.add(path)
                continue
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
        videos = tuple(read_video(self.inside(p), fps=self.frame_rate) for p in paths)
        want = self.submission.get("resolution")
        for video, path in zip(videos, paths):
            if want and [video.height, video.width] != list(want):
                # the preflight's problem is the item's failure: never scored and averaged in
                raise InvalidInputError(f"{path} is {video.height}x{video.width}, {SUBMISSION_FILE} declares "
                                        f"{want[0]}x{want[1]}")
        extras = {"submission": self.name, "files": [str(p) for p in paths]}
        if case.kind == "motion-transfer":   # the output against its source (evalkit.protocol)
            extras["warnings"] = output_warnings(Facts.of(case.source.load()), Facts.of(videos[0]))
        return Generation(videos, StageTimings(), extras=extras)
