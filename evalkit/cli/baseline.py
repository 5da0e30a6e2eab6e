"""``evalkit baseline save RUN --name v0.1``: record a run as a release baseline (self-contained JSON)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import EvalkitError
from .app import app, fail

baseline_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Record and list release baselines (baselines/releases/).")
app.add_typer(baseline_app, name="baseline")

DEFAULT_DIR = Path("baselines") / "releases"


@baseline_app.command("save")
def save(
    run: str = typer.Argument(..., help="DIR, DIR:RUN_ID or store.sqlite"),
    name: str = typer.Option(..., "--name", help="release name, e.g. v0.1 (the file is NAME.json)"),
    directory: Path = typer.Option(DEFAULT_DIR, "--dir", help="where to write NAME.json"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing baseline of that name"),
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete",
                                          help="record a run that is not complete (failed or missing items)"),
) -> None:
    """Write the run's results, generation timings, plan and provenance to DIR/NAME.json."""
    from ..report.sources import baseline_document, load_run

    if not name or "/" in name or name.startswith("."):
        raise fail(f"--name {name!r}: give a plain release name such as v0.1")
    target = directory / f"{name}.json"
    if target.exists() and not force:
        raise fail(f"{target} exists (use --force to overwrite)")
    try:
        data = load_run(run)
    except EvalkitError as exc:
        raise fail(str(exc))
    note = data.status_note(short=True)
    if note and not allow_incomplete:
        raise fail(f"run {data.run_id}: {note}; a release baseline records a complete run "
                   f"(fix the failures or pass --allow-incomplete)")
    doc = baseline_document(data, name)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(target)
    typer.echo(f"saved run {data.run_id} ({len(data.results)} results, {data.outcome().counts()}) as baseline "
               f"{name}: {target}")
    if note:
        typer.echo(f"warning: {note}", err=True)


@baseline_app.command("list")
def list_baselines(directory: Path = typer.Option(DEFAULT_DIR, "--dir")) -> None:
    """List saved release baselines."""
    for p in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(p.read_text())
        except ValueError:
            continue
        prov = doc.get("run", {}).get("provenance", {})
        typer.echo(f"{doc.get('name', p.stem)}\trun {doc.get('run_id')}\tevalkit {prov.get('evalkit_version', '?')}"
                   f"\tcommit {prov.get('git_commit', '?')}\t{len(doc.get('results', []))} results")
