"""The layout of a submission folder: where a method's own videos for (case, seed) live.

Shared by the ``videos`` generator (which reads a submission) and ``evalkit data export``
(which writes the inputs a method runs on elsewhere), so both sides agree on one layout; it
sits below both ``data`` and ``generators``.
"""
from __future__ import annotations

from pathlib import Path
from typing import cast

from .cases import Case, MotionTransferCase, MultiShotCase
from .mtbench_layout import case_output_dir
from .video import FRAME_SUFFIXES

SUBMISSION_FILE = "submission.yaml"
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".gif")


def is_video(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() in VIDEO_SUFFIXES
    return path.is_dir() and any(p.suffix.lower() in FRAME_SUFFIXES for p in path.iterdir())


def find_video(base: Path) -> Path | None:
    """``base.<video suffix>`` or a frame folder ``base/``."""
    for suffix in VIDEO_SUFFIXES:
        if (p := base.with_name(base.name + suffix)).is_file():
            return p
    return base if base.is_dir() and is_video(base) else None


def mtbench_file(folder: Path, seed: int) -> Path | None:
    """Seed ``seed``'s video in an MTBench prompt folder: ``seed<k>.mp4`` (or ``<k>.mp4``) where one
    is named so, else the k-th ``.mp4`` in name order (MTBench scores every video of the folder)."""
    videos = sorted(p for p in folder.iterdir() if p.suffix == ".mp4" and p.is_file()) if folder.is_dir() else []
    named = [p for p in videos if p.stem.removeprefix("seed").isdigit() and int(p.stem.removeprefix("seed")) == seed]
    return named[0] if named else (videos[seed] if seed < len(videos) else None)


def expected_paths(case: Case, seed: int) -> list[str]:
    """Where a submission puts (case, seed)'s video(s), relative to its folder (mp4 named):
    MTBench's output layout for a case whose dataset says so (``meta["output_layout"]``)."""
    if case.kind == "motion-transfer" and cast(MotionTransferCase, case).meta.get("output_layout") == "mtbench":
        return [f"{case_output_dir(case)}/seed{seed}.mp4"]
    base = case.case_id if seed == 0 else f"{case.case_id}/seed{seed}"
    if case.kind == "multi-shot":
        return [f"{base}/shot{j}.mp4" for j in range(len(cast(MultiShotCase, case).prompts))]
    return [f"{base}.mp4"]
