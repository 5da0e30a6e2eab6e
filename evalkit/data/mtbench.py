"""``mtbench``: MTBench (Shi et al., "Decouple and Track", ICCV 2025; Shi-qingyu/DeT, hub data
``QingyuShi/MTBench``) read from a local copy in its own layout, one case per (source,
evaluation prompt).

Layout of ``--root`` (what the released ``evaluation.py`` reads; one folder per source)::

    <name>/videos/<name>.mp4          the source video
    <name>/masks/<name>/00000.png ... subject masks (the first frame's makes the tracking box)
    <name>/eval_prompts.txt           one evaluation prompt per line (5 per source)
    <name>/prompts.txt                the source's own caption

The case's ``source_mask`` is the first-frame mask only, the one ``evaluation.py`` reads: the
mask folders are DAVIS's own annotations and do not follow the 49-frame clips (the examples
hold 90, 25 and 66 masks), so a per-frame reading of them would pair masks with wrong frames.

Case ids are ``<name>/<k>``, k the prompt's line among the non-blank lines of
``eval_prompts.txt``. Prompts are stripped of surrounding spaces (the files carry trailing
and, once, leading spaces); where a method writes its videos is MTBench's output folder
``output_dir_name(raw prompt)`` (see ``evalkit.generators.weight_free.videos``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cases import FileMasks, FileVideo, MotionTransferCase
from ..errors import EvalkitError, MissingDataError
from ..mtbench_layout import output_dir_name
from ..probe import ProbeError, check_source, probe_masks, probe_video
from ..registry import DATASETS
from ..video import read_masks
from .base import Dataset
from .manifest import DATA_ROOT_ENV, as_bool, parse_list, resolve_root

EVAL_PROMPTS = "eval_prompts.txt"
SOURCE_PROMPT = "prompts.txt"
FIRST_MASK = "00000.png"  # the one mask MTBench reads
LAYOUT = "mtbench"  # case meta "output_layout": where the videos generator and export put outputs


def read_prompt_lines(path: Path) -> list[str]:
    """The non-blank lines of a prompt file, unstripped (the output folder name keeps a leading
    space). A blank line would make ``evaluation.py`` score the output root itself; skipped."""
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise MissingDataError(f"{path}: unreadable ({exc.strerror or exc})") from None


@DATASETS.register("mtbench")
class MTBench(Dataset):
    case_kind = "motion-transfer"
    description = "MTBench (DeT, ICCV 2025): source videos × 5 evaluation prompts, first-frame subject masks"
    defaults = {
        "sequences": None,  # list or "a,b"; None = every source folder under the root
        "masks": True,      # attach masks/<name>/ (the box motion fidelity tracks in)
    }

    def __init__(self, root: str | Path | None = None, **options: Any) -> None:
        if "masks" in options:
            options["masks"] = as_bool(options["masks"], "masks")
        super().__init__(root=root, **options)
        self.root = resolve_root(root)

    def require_root(self) -> Path:
        if self.root is None:
            raise EvalkitError(f"mtbench: no data root; pass --root DIR (a copy of MTBench: one folder per "
                               f"source with videos/, masks/, eval_prompts.txt) or set {DATA_ROOT_ENV}")
        if not self.root.is_dir():
            raise MissingDataError(f"mtbench: data root {self.root} is not a folder")
        return self.root

    def sources(self) -> list[str]:
        """The source folders (sorted; the released script's ``iterdir`` order is the file system's)."""
        root = self.require_root()
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        wanted = parse_list(self.options["sequences"])
        if wanted is None:
            if not found:
                raise MissingDataError(f"mtbench: no source folders under {root}")
            return found
        unknown = [w for w in wanted if w not in found]
        if unknown:
            raise EvalkitError(f"mtbench: unknown sequence(s) {', '.join(map(repr, unknown))} under {root}")
        return [f for f in found if f in wanted]

    def video_path(self, name: str) -> Path:
        return self.require_root() / name / "videos" / f"{name}.mp4"

    def mask_path(self, name: str) -> Path:
        return self.require_root() / name / "masks" / name

    def cases(self) -> list[MotionTransferCase]:
        out = []
        for name in self.sources():
            folder = self.require_root() / name
            prompts = read_prompt_lines(folder / EVAL_PROMPTS)
            caption = folder / SOURCE_PROMPT
            source_prompt = " ".join(read_prompt_lines(caption)).strip() if caption.is_file() else ""
            first_mask = self.mask_path(name) / FIRST_MASK
            masks = FileMasks(first_mask) if self.options["masks"] and first_mask.is_file() else None
            source = FileVideo(self.video_path(name))
            for k, raw in enumerate(prompts):
                out.append(MotionTransferCase(
                    case_id=f"{name}/{k}", source=source, target_prompt=raw.strip(), source_prompt=source_prompt,
                    source_mask=masks,
                    meta={"dataset": "mtbench", "sequence": name, "prompt_index": k,
                          "output_layout": LAYOUT, "output_dir": output_dir_name(raw)}))
        return out

    def check(self) -> list[str]:
        try:
            names = self.sources()
        except EvalkitError as exc:
            return [str(exc)]
        problems = []
        for name in names:
            folder = self.require_root() / name
            prompts = folder / EVAL_PROMPTS
            if not prompts.is_file():
                problems.append(f"{name}: {prompts} not found")
            elif not read_prompt_lines(prompts):
                problems.append(f"{name}: {prompts} has no prompt")
            # the masks are checked for what MTBench reads, the first one (dog-agility has 25 of 49)
            problems += check_source(name, self.video_path(name), None)
            if self.options["masks"]:
                problems += self._mask_problems(name)
        return problems

    def _mask_problems(self, name: str) -> list[str]:
        first = self.mask_path(name) / FIRST_MASK
        if not first.is_file():
            return [f"{name}: first-frame mask {first} not found"]
        try:
            mask, video = probe_masks(first), probe_video(self.video_path(name))
        except ProbeError:
            return []  # an unreadable video is reported by check_source; a mask's by the run
        if (mask.height, mask.width) != (video.height, video.width):
            return [f"{name}: mask size {mask.width}x{mask.height} ({first}) differs from frame size "
                    f"{video.width}x{video.height}"]
        if not read_masks(first).any():
            return [f"{name}: first-frame mask {first} is empty (MTBench tracks inside its bounding box)"]
        return []
