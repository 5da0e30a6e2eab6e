"""Benchmark manifests: where they live, how they are validated, where their files are.

Manifests are data (YAML or JSON with a ``version`` and a ``kind``), kept in ``datasets/``
at the repository root. :func:`datasets_dir` finds that folder: ``$EVALKIT_DATASETS_DIR``,
else the checkout's ``datasets/`` next to the package, else the copy an installed wheel
carries as ``evalkit/_datasets`` (see pyproject's package-dir mapping).

Each dataset kind declares a pydantic schema here; :func:`load_manifest` reports every
schema problem at once (one line each, naming the offending entry).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..cases import FrameRange
from ..errors import ManifestError
from .base import Dataset

MANIFEST_VERSION = 1
DATASETS_ENV = "EVALKIT_DATASETS_DIR"
DATA_ROOT_ENV = "EVALKIT_DATA_ROOT"
SUFFIXES = (".yaml", ".yml", ".json")


class ManifestProblems(ManifestError):
    """A manifest (or its files) with one or more problems; ``problems`` holds one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        head = f"{source}: {len(problems)} problem(s)" if len(problems) > 1 else source
        super().__init__(head + ("\n  " if len(problems) > 1 else ": ") + "\n  ".join(problems))


# -- locating manifests and data ------------------------------------------------------------

def datasets_dir() -> Path:
    """The folder holding the shipped manifests (see module docstring for the order)."""
    env = os.environ.get(DATASETS_ENV)
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "datasets"
    if checkout.is_dir():
        return checkout
    from importlib.resources import files

    return Path(str(files("evalkit") / "_datasets"))


def find_manifest(name_or_path: str | os.PathLike) -> Path:
    """A manifest file: an existing path, or a name (with or without suffix) in datasets_dir()."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    base = datasets_dir()
    candidates = [base / p.name] + [base / f"{p.name}{s}" for s in SUFFIXES]
    candidates += [base / f"{p.name.replace('-', '_')}{s}" for s in SUFFIXES]
    for c in candidates:
        if c.is_file():
            return c
    shipped = sorted(f.stem for f in base.glob("*") if f.suffix in SUFFIXES) if base.is_dir() else []
    raise ManifestError(f"manifest {str(name_or_path)!r} not found (not a file; shipped manifests in "
                        f"{base}: {', '.join(shipped) or 'none'})")


def resolve_root(root: str | os.PathLike | None) -> Path | None:
    """The data root: the explicit ``root`` option / ``--root``, else ``$EVALKIT_DATA_ROOT``."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else None


def find_subroot(root: Path, candidates: tuple[str, ...], marker) -> Path:
    """The first ``root/<candidate>`` for which ``marker(path)`` holds (else ``root``).

    Lets one data root hold several benchmarks (``ROOT/davis``, ``ROOT/dreambooth``) while a
    root pointing straight at one benchmark's folder also works.
    """
    for c in candidates:
        p = root / c if c else root
        if marker(p):
            return p
    return root


# -- schemas ----------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrameRangeSpec(_Model):
    """``start``, ``end``, ``step`` as written in the manifest; ``end`` exclusive unless the
    manifest says ``frame_range_end: inclusive``."""
    start: int = Field(0, ge=0)
    end: int | None = Field(None, ge=1)
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "FrameRangeSpec":
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} must be greater than start {self.start}")
        return self

    def to_frame_range(self, end_convention: str = "exclusive") -> FrameRange:
        end = self.end + 1 if (self.end is not None and end_convention == "inclusive") else self.end
        return FrameRange(self.start, end, self.step)


class ManifestHeader(_Model):
    version: Literal[1]
    kind: str
    name: str = ""
    description: str = ""
    source: str = ""
    licence: str = ""
    citation: str = ""


# davis-motion-transfer ---------------------------------------------------------------------

DAVIS_CATEGORIES = ("caption", "subject", "scene")


class DavisSequence(_Model):
    caption: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    scene: str = Field(min_length=1)
    frame_range: FrameRangeSpec
    # optional subject words (for CLIPSeg-style metrics); DiTFlow does not give them
    source_subject: str = ""
    target_subjects: dict[Literal["caption", "subject", "scene"], str] = {}


class DavisManifest(ManifestHeader):
    kind: Literal["davis-motion-transfer"]
    frame_range_end: Literal["exclusive", "inclusive"] = "exclusive"
    resolution: str = "480p"
    fps: float = Field(24.0, gt=0)  # DAVIS frame rate
    sequences: dict[str, DavisSequence] = Field(min_length=1)


# motion-transfer (generic) --------------------------------------------------------------

MOTION_TRANSFER_CATEGORIES = ("same-subject", "different-subject")


class MotionTarget(_Model):
    id: str = ""
    prompt: str = Field(min_length=1)
    subject: str = ""
    category: str = ""


class MotionTransferItem(_Model):
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)   # path relative to the data root (mp4 or frame folder)
    origin: str = ""                    # where the video comes from (dataset + id), no URL needed
    masks: str | None = None            # optional mask folder/image relative to the root
    frame_range: FrameRangeSpec | None = None
    fps: float | None = Field(None, gt=0)  # frame folders only
    source_prompt: str = ""
    source_subject: str = ""
    targets: list[MotionTarget] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id_chars(cls, v: str) -> str:
        if "/" in v or v.strip() != v:
            raise ValueError(f"item id {v!r} must not contain '/' or surrounding spaces")
        return v


class MotionTransferManifest(ManifestHeader):
    kind: Literal["motion-transfer"]
    categories: tuple[str, ...] = MOTION_TRANSFER_CATEGORIES
    items: list[MotionTransferItem] = Field(min_length=1)



def _motion_transfer_cross_checks(data: dict) -> list[str]:
    """Duplicate ids and unknown categories, read from the raw manifest so they are reported
    together with field errors (pydantic skips model validators when a field fails)."""
    problems = []
    cats = data.get("categories", MOTION_TRANSFER_CATEGORIES)
    cats = tuple(cats) if isinstance(cats, (list, tuple)) else MOTION_TRANSFER_CATEGORIES
    items = data.get("items")
    seen: set = set()
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        label = f"items.{i} ({item.get('id')})"
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
            if cat and cat not in cats:
                problems.append(f"{label}.targets.{j}: unknown category {cat!r} (known: {', '.join(cats)})")
    return problems


CROSS_CHECKS = {"motion-transfer": _motion_transfer_cross_checks}


# dreambooth-personalization ---------------------------------------------------------------

class DreamBoothSubject(_Model):
    class_noun: str = Field(min_length=1)
    live: bool = False  # live subjects (cats, dogs) use the "live" prompt templates


class DreamBoothManifest(ManifestHeader):
    kind: Literal["dreambooth-personalization"]
    subject_token: str = "sks"
    subjects: dict[str, DreamBoothSubject] = Field(min_length=1)
    # template sets: name -> {"object": [...], "live": [...]}; placeholders {token} {class_noun}
    prompt_sets: dict[str, dict[Literal["object", "live"], list[str]]] = Field(min_length=1)

    @model_validator(mode="after")
    def _templates(self) -> "DreamBoothManifest":
        problems = []
        for set_name, groups in self.prompt_sets.items():
            for group in ("object", "live"):
                templates = groups.get(group)
                if not templates:
                    problems.append(f"prompt_sets.{set_name}: missing or empty {group!r} templates")
                    continue
                for i, t in enumerate(templates):
                    if "{token}" not in t or "{class_noun}" not in t:
                        problems.append(f"prompt_sets.{set_name}.{group}.{i}: template {t!r} must contain "
                                        "{token} and {class_noun}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# multishot-story ------------------------------------------------------------------------------

class StorySet(_Model):
    id: str = Field(min_length=1)
    subject: str = Field(min_length=1)   # subject description, prompt part 1 ("A girl")
    subject_word: str = ""               # text for CLIPSeg (defaults to ``subject``)
    style: str = ""                      # prompt part 3 ("Anime cartoon animation")
    settings: list[str] = []             # prompt part 2, one per shot ...
    prompts: list[str] = []              # ... or the full prompts, one per shot
    category: str = ""

    @model_validator(mode="after")
    def _shots(self) -> "StorySet":
        if bool(self.settings) == bool(self.prompts):
            raise ValueError(f"set {self.id!r}: give exactly one of 'settings' or 'prompts'")
        n = len(self.settings or self.prompts)
        if n < 2:
            raise ValueError(f"set {self.id!r}: a multi-shot set needs at least 2 shots, has {n}")
        if any(not s.strip() for s in self.settings or self.prompts):
            raise ValueError(f"set {self.id!r}: empty shot text")
        return self


class MultiShotManifest(ManifestHeader):
    kind: Literal["multishot-story"]
    # MbQ App. B.12: prompt = subject description + setting + style descriptor
    prompt_template: str = "{subject} {setting}, {style}"
    sets: list[StorySet] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "MultiShotManifest":
        ids = [s.id for s in self.sets]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate set id(s): {', '.join(dup)}")
        for field in ("{subject}", "{setting}"):
            if field not in self.prompt_template:
                raise ValueError(f"prompt_template must contain {field}")
        return self


SCHEMAS: dict[str, type[ManifestHeader]] = {
    "davis-motion-transfer": DavisManifest,
    "motion-transfer": MotionTransferManifest,
    "dreambooth-personalization": DreamBoothManifest,
    "multishot-story": MultiShotManifest,
}


# -- loading ----------------------------------------------------------------------------------

def read_manifest_data(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: unreadable manifest ({exc.strerror or exc})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        detail = str(exc).replace("\n", " ")
        raise ManifestError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({detail})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: a manifest must be a mapping with 'version' and 'kind'")
    return data


def _format_error(err: dict) -> list[str]:
    """One pydantic error -> one or more lines (model validators join problems with '; ')."""
    loc = ".".join(str(x) for x in err.get("loc", ()))
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    elif err.get("type") == "missing":
        msg = "required field missing"
    parts = msg.split("; ") if err.get("type") == "value_error" else [msg]
    return [f"{loc}: {m}" if loc else m for m in parts]


def load_manifest(name_or_path: str | os.PathLike, kind: str | None = None) -> tuple[ManifestHeader, Path]:
    """Read and validate a manifest; raise ManifestProblems listing every schema problem."""
    path = find_manifest(name_or_path)
    data = read_manifest_data(path)
    got = data.get("kind")
    if kind is not None and got != kind:
        raise ManifestError(f"{path}: manifest kind {got!r} does not match dataset {kind!r}")
    schema = SCHEMAS.get(got)
    if schema is None:
        raise ManifestError(f"{path}: unknown manifest kind {got!r} (known: {', '.join(SCHEMAS)})")
    if data.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {data.get('version')!r} is not supported "
                            f"(this evalkit reads version {MANIFEST_VERSION})")
    problems = CROSS_CHECKS[got](data) if got in CROSS_CHECKS else []
    try:
        manifest = schema.model_validate(data)
    except ValidationError as exc:
        # model validators join several problems with "; " -> one line each
        problems = [line for err in exc.errors() for line in _format_error(err)] + problems
    if problems:
        raise ManifestProblems(str(path), problems)
    return manifest, path


def as_bool(value: Any, name: str) -> bool:
    """A boolean option that may arrive as a string from the command line."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ManifestError(f"option {name}={value!r} is not a boolean (true/false)")


def parse_list(value: Any) -> list[str] | None:
    """An option given as a list or a string separated by "," or "+" (None / "" / "all" = everything)."""
    if value is None or value == "" or value == "all":
        return None
    if isinstance(value, str):  # "+" too: run plans split component options on commas
        return [v.strip() for v in value.replace("+", ",").split(",") if v.strip()]
    return [str(v) for v in value]


# -- a base for datasets read from a manifest ----------------------------------------------------

class ManifestDataset(Dataset):
    """A Dataset whose cases come from a manifest (option ``manifest``: a name in
    ``datasets/`` or a path). The manifest is validated on construction; the data root is
    the ``root`` argument or ``$EVALKIT_DATA_ROOT``."""
    manifest_kind: str = ""
    root_hint: str = "the data root"

    def __init__(self, root: str | os.PathLike | None = None, **options: Any) -> None:
        super().__init__(root=root, **options)
        self.root = resolve_root(root)
        self.manifest, self.manifest_path = load_manifest(self.options["manifest"], kind=self.manifest_kind)

    def require_root(self) -> Path:
        if self.root is None:
            raise ManifestError(f"{self.registry_name}: no data root; pass --root DIR ({self.root_hint}) "
                                f"or set {DATA_ROOT_ENV}")
        return self.root

    def root_problem(self) -> str | None:
        """Why the data root cannot be checked (missing or not a folder), or None."""
        try:
            root = self.require_root()
        except ManifestError as exc:
            return str(exc)
        return None if root.is_dir() else f"{self.registry_name}: data root {root} is not a folder"

    def provenance(self, **extra: Any) -> dict[str, Any]:
        """The case ``meta`` common to every case of this dataset (enters the case hash)."""
        return {"dataset": self.registry_name, "manifest": self.manifest_path.name,
                "manifest_version": self.manifest.version, **extra}

    def select(self, what: str, wanted: list[str] | None, known: list[str]) -> list[str]:
        """``wanted`` (in the manifest's order) or everything; unknown names are one error."""
        if wanted is None:
            return list(known)
        unknown = [w for w in wanted if w not in known]
        if unknown:
            import difflib

            hints = [f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, known, n=1))
                                 else "") for u in unknown]
            raise ManifestError(f"{self.registry_name}: unknown {what}: {', '.join(hints)} "
                                f"(manifest {self.manifest_path.name})")
        return [k for k in known if k in wanted]
