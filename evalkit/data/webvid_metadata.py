"""WebVid-10M's official metadata CSV and the folder layout of its downloaded clips.

The metadata files (``results_10M_train.csv``, ``results_2M_val.csv``, ...) have the columns
``videoid, contentUrl, duration, page_dir, name``; ``name`` is the caption. The official
download script and the loaders built on it store a clip as ``<videos>/<page_dir>/<videoid>.mp4``;
many users keep a flat ``<videos>/<videoid>.mp4`` instead. Both are looked up, official
layout first. Shared by the ``webvid`` dataset and WebVid references in ``motion-transfer``
manifests.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import ManifestError, VideoReadError
from ..hashing import stable_hash

COLUMNS = ("videoid", "contentUrl", "duration", "page_dir", "name")
# where a clip folder usually sits under a data root (first match wins; "" = the root itself)
FOLDER_CANDIDATES = ("", "videos", "webvid", "webvid/videos", "WebVid", "WebVid/videos")
_CHUNK_ROWS = 500_000  # the 10M CSV is read in chunks, keeping only the wanted rows


@dataclass(frozen=True)
class WebVidRow:
    videoid: str
    caption: str
    page_dir: str = ""
    duration: str = ""   # ISO 8601 as the CSV writes it, e.g. PT00H00M11S
    url: str = ""


def read_metadata(path: Path, videoids: Iterable[str] | None = None) -> dict[str, WebVidRow]:
    """The rows of a WebVid metadata CSV (all, or those of ``videoids``) by videoid.

    Ids are read as text, so ``1066699`` in a manifest matches the CSV's ``1066699``; a
    videoid listed twice among the wanted rows is an error (which caption would be meant?).
    """
    import pandas as pd

    wanted = None if videoids is None else {str(v) for v in videoids}
    rows: dict[str, WebVidRow] = {}
    twice: set[str] = set()
    try:
        header = pd.read_csv(path, nrows=0).columns
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ManifestError(f"{path}: not a WebVid metadata CSV: missing column(s) {', '.join(missing)} "
                                f"(expected {', '.join(COLUMNS)})")
        with pd.read_csv(path, usecols=list(COLUMNS), dtype=str, keep_default_na=False,
                         chunksize=_CHUNK_ROWS) as reader:
            for chunk in reader:
                chunk = chunk.assign(videoid=chunk["videoid"].str.strip())
                if wanted is not None:
                    chunk = chunk[chunk["videoid"].isin(wanted)]
                for r in chunk.to_dict("records"):
                    if r["videoid"] in rows:
                        twice.add(r["videoid"])
                    rows[r["videoid"]] = WebVidRow(r["videoid"], r["name"].strip(), r["page_dir"].strip(),
                                                   r["duration"].strip(), r["contentUrl"].strip())
    except FileNotFoundError:
        raise ManifestError(f"{path}: WebVid metadata CSV not found") from None
    except (OSError, ValueError) as exc:  # pandas' parser errors and bad encodings are ValueErrors
        detail = str(exc).strip().replace("\n", " ")
        raise ManifestError(f"{path}: unreadable WebVid metadata CSV ({type(exc).__name__}: {detail})") from None
    if twice:
        raise ManifestError(f"{path}: videoid(s) listed more than once: {', '.join(sorted(twice))}")
    return rows


def clip_candidates(folder: Path, videoid: str, page_dir: str = "") -> list[Path]:
    """Where the clip may be: the official ``<page_dir>/<videoid>.mp4``, then flat."""
    flat = folder / f"{videoid}.mp4"
    return [folder / page_dir / f"{videoid}.mp4", flat] if page_dir else [flat]


def clip_path(folder: Path, videoid: str, page_dir: str = "") -> Path:
    """The first candidate that exists, else the first (so a load names where it looked first)."""
    candidates = clip_candidates(folder, videoid, page_dir)
    return next((p for p in candidates if p.exists()), candidates[0])


def find_clip_folder(root: Path, rows: Iterable[WebVidRow]) -> Path:
    """The folder under ``root`` (see FOLDER_CANDIDATES) holding any of the clips, else ``root``."""
    rows = list(rows)
    for c in FOLDER_CANDIDATES:
        folder = root / c if c else root
        if any(p.exists() for r in rows for p in clip_candidates(folder, r.videoid, r.page_dir)):
            return folder
    return root


def missing_clip_message(folder: Path, videoid: str, page_dir: str = "") -> str:
    looked = " or ".join(str(p) for p in clip_candidates(folder, videoid, page_dir))
    return f"clip not found ({looked})"


@dataclass(frozen=True)
class UnavailableClip:
    """A source that cannot be built (e.g. its videoid is not in the metadata CSV): loading it
    raises ``reason``, so a run records the case as failed and goes on."""
    reason: str

    def load(self):
        raise VideoReadError(self.reason)

    def fingerprint(self) -> str:
        return stable_hash("unavailable", self.reason)
