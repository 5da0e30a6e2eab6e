"""Benchmark manifests: where they live, how they are validated, where their files are.

Manifests are data (YAML or JSON with a ``version`` and a ``kind``), kept in ``datasets/``
at the repository root. :func:`datasets_dir` finds that folder: ``$EVALKIT_DATASETS_DIR``,
else the checkout's ``datasets/`` next to the package, else the copy an installed wheel
carries as ``evalkit/_datasets`` (see pyproject's package-dir mapping).

This module holds only what every manifest shares: finding files, the common header, reading
and validating with one error formatter, and :class:`ManifestDataset`. Each dataset module
owns its schema (a :class:`ManifestHeader` subclass) and its cross checks; a manifest's
``kind`` is resolved through the registered dataset classes, so adding a manifest dataset
is one module plus one YAML file. Validation reports every schema problem at once (one
line each, naming the offending entry).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping, Sequence

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..case_ids import check_id_segment
from ..cases import FrameRange
from ..errors import ManifestError
from ..registry import DATASETS
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


# -- schema building blocks ---------------------------------------------------------------------

#: an entry's id, one component of its cases' ids (which name files: no '..', '/', leading dot)
IdSegment = Annotated[str, AfterValidator(check_id_segment)]


class ManifestModel(BaseModel):
    """Base of every manifest model: unknown fields are errors (a typo never drops data)."""
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrameRangeSpec(ManifestModel):
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


class ManifestHeader(ManifestModel):
    """The fields every manifest has; a dataset's schema subclasses it."""
    version: Literal[1]
    kind: str
    name: str = ""
    description: str = ""
    source: str = ""
    licence: str = ""
    citation: str = ""


# -- reading and validating ------------------------------------------------------------------

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


def _format_error(err: Mapping[str, Any]) -> list[str]:
    """One pydantic error -> one or more lines (model validators join problems with '; ')."""
    loc = ".".join(str(x) for x in err.get("loc", ()))
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    elif err.get("type") == "missing":
        msg = "required field missing"
    parts = msg.split("; ") if err.get("type") == "value_error" else [msg]
    return [f"{loc}: {m}" if loc else m for m in parts]


def validate(data: dict[str, Any], path: Path, schema: type[ManifestHeader],
             problems: Sequence[str] = ()) -> ManifestHeader:
    """``data`` as ``schema``; raise ManifestProblems with every schema problem plus ``problems``
    (cross checks the caller ran on the raw data)."""
    if data.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {data.get('version')!r} is not supported "
                            f"(this evalkit reads version {MANIFEST_VERSION})")
    problems = list(problems)
    try:
        manifest = schema.model_validate(data)
    except ValidationError as exc:
        problems = [line for err in exc.errors() for line in _format_error(err)] + problems
    if problems:
        raise ManifestProblems(str(path), problems)
    return manifest


def manifest_datasets() -> dict[str, type["ManifestDataset"]]:
    """The registered manifest datasets by the ``kind`` they read (the registry is the only table)."""
    out: dict[str, type[ManifestDataset]] = {}
    for _, cls in DATASETS.items():
        if isinstance(cls, type) and issubclass(cls, ManifestDataset) and cls.manifest_kind:
            out.setdefault(cls.manifest_kind, cls)
    return out


def dataset_for_kind(kind: Any, path: Path) -> type["ManifestDataset"]:
    """The dataset class that reads manifests of ``kind`` (``path`` names the file in errors)."""
    known = manifest_datasets()
    if not isinstance(kind, str) or kind not in known:
        raise ManifestError(f"{path}: unknown manifest kind {kind!r} (known: {', '.join(sorted(known))})")
    return known[kind]


def _kind_matches(data: dict[str, Any], path: Path, kind: str | None) -> None:
    if kind is not None and data.get("kind") != kind:
        raise ManifestError(f"{path}: manifest kind {data.get('kind')!r} does not match dataset {kind!r}")


def load_manifest(name_or_path: str | os.PathLike, kind: str | None = None) -> tuple[ManifestHeader, Path]:
    """Read and validate a manifest with the schema of the dataset its ``kind`` names (which
    must be ``kind`` when given); raise ManifestProblems listing every schema problem."""
    path = find_manifest(name_or_path)
    data = read_manifest_data(path)
    _kind_matches(data, path, kind)
    return dataset_for_kind(data.get("kind"), path).validate_manifest(data, path), path


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
    ``datasets/`` or a path). A subclass names the ``manifest_kind`` it reads and its
    ``schema``, and may add ``cross_checks``; registering it (``@DATASETS.register``) is all
    it takes for ``load_manifest``, ``evalkit data check`` and ``evalkit run`` to find it.
    The manifest is validated on construction; the data root is the ``root`` argument or
    ``$EVALKIT_DATA_ROOT``."""
    manifest_kind: ClassVar[str] = ""
    schema: ClassVar[type[ManifestHeader]] = ManifestHeader
    root_hint: ClassVar[str] = "the data root"

    def __init__(self, root: str | os.PathLike | None = None, **options: Any) -> None:
        super().__init__(root=root, **options)
        self.root = resolve_root(root)
        self.manifest_path = find_manifest(self.options["manifest"])
        data = read_manifest_data(self.manifest_path)
        _kind_matches(data, self.manifest_path, self.manifest_kind)
        self.manifest = self.validate_manifest(data, self.manifest_path)

    @classmethod
    def validate_manifest(cls, data: dict[str, Any], path: Path) -> Any:
        """``data`` as this dataset's ``schema``, with its cross checks; every problem at once."""
        return validate(data, path, cls.schema, cls.cross_checks(data))

    @classmethod
    def cross_checks(cls, data: dict[str, Any]) -> list[str]:
        """Problems a field-by-field schema cannot see (duplicate ids, unknown categories), read
        from the raw data so they are reported together with the field errors (pydantic skips
        model validators when a field fails)."""
        return []

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
