"""``evalkit data check``: validate a manifest (or a registered dataset) against the files on
disk and report every problem at once, one line each, naming the offending entry."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EvalkitError
from ..registry import DATASETS
from .app import app, fail

data_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Benchmark datasets: validate manifests and data.")
app.add_typer(data_app, name="data")


def parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"option {pair!r} must be KEY=VALUE")
        options[key.strip().replace("-", "_")] = value
    return options


def build_dataset(name_or_manifest: str, root: Optional[Path], options: dict):
    """A dataset from a registered name (``name[key=value,...]`` as in ``evalkit run``; ``-o``
    options added) or from a manifest (its ``kind`` picks the loader among the registered
    manifest datasets)."""
    from ..run.plan import ComponentSpec

    if "[" in name_or_manifest and not Path(name_or_manifest).is_file():
        spec = ComponentSpec.parse(name_or_manifest)
        name_or_manifest, options = spec.name, {**spec.options, **options}
        if name_or_manifest not in DATASETS:
            DATASETS.get(name_or_manifest)   # the unknown-name error, with its suggestion
    if name_or_manifest in DATASETS:
        return DATASETS.get(name_or_manifest)(root=root, **options)
    from ..data.manifest import dataset_for_kind, find_manifest, read_manifest_data

    path = find_manifest(name_or_manifest)
    dataset = dataset_for_kind(read_manifest_data(path).get("kind"), path)
    return dataset(root=root, manifest=str(path), **options)


@data_app.command("check")
def check(
    target: str = typer.Argument(..., metavar="MANIFEST_OR_DATASET",
                                 help="a registered dataset name, a shipped manifest name or a manifest path"),
    root: Optional[Path] = typer.Option(None, "--root", "-r",
                                        help="data root (default: $EVALKIT_DATA_ROOT)"),
    option: list[str] = typer.Option([], "--option", "-o", help="dataset option KEY=VALUE (repeatable)"),
) -> None:
    """Validate a manifest and its files; exit 1 when any problem exists."""
    from ..data.manifest import ManifestProblems

    try:
        dataset = build_dataset(target, root, parse_options(option))
        cases = dataset.cases()
        problems = dataset.check()
    except ManifestProblems as exc:
        problems, cases = [f"{exc.source}: {p}" for p in exc.problems], None
    except EvalkitError as exc:
        problems, cases = [str(exc)], None
    for p in problems:
        typer.echo(p)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {target}", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {target}: {len(cases)} cases, all files present")


@data_app.command("export")
def export(
    target: str = typer.Argument(..., metavar="MANIFEST_OR_DATASET",
                                 help="the suite whose inputs to export: a dataset name (name[key=value,...] "
                                      "sets options, as in `evalkit run`), a shipped manifest name or a path"),
    out: Path = typer.Option(..., "--out", help="folder to write cases.jsonl, sources/, masks/, references/"),
    root: Optional[Path] = typer.Option(None, "--root", "-r", help="data root (default: $EVALKIT_DATA_ROOT)"),
    option: list[str] = typer.Option([], "--option", "-o", help="dataset option KEY=VALUE (repeatable)"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="only the first N cases"),
    seeds: str = typer.Option("0", "--seeds", help="comma-separated seeds the method should generate"),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="expected output frames (default: the source's)"),
    fps: Optional[float] = typer.Option(None, "--fps", min=0.001, help="expected output fps (default: the source's)"),
    size: Optional[str] = typer.Option(None, "--size", help="expected output HxW (default: the source's)"),
) -> None:
    """Write a suite's inputs (lossless sources, masks, reference images, prompts) for a method
    run elsewhere; score its outputs with --generators "videos[dir=...]"."""
    from ..data.export import export_cases
    from ..run.plan import parse_seeds

    try:
        seed_list = list(parse_seeds(seeds))
    except EvalkitError as exc:
        raise fail(f"--{exc}") from None
    protocol: dict = {k: v for k, v in (("frames", frames), ("fps", fps)) if v is not None}
    if size:
        h, sep, w = size.lower().partition("x")
        if not (sep and h.isdigit() and w.isdigit()):
            raise fail(f"--size {size!r}: expected HxW, e.g. 480x720")
        protocol.update(height=int(h), width=int(w))
    try:
        cases = build_dataset(target, root, parse_options(option)).cases()[:limit]
        path = export_cases(cases, out, seeds=seed_list, protocol=protocol)
    except EvalkitError as exc:
        raise fail(str(exc))
    typer.echo(f"exported {len(cases)} cases of {target} to {out} ({path.name})")
