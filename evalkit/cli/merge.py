"""``evalkit merge OUT [SHARD_DIR...]``: merge shard stores (a Slurm array's ``--shard i/n``
folders, copied node-local stores) into the store under OUT."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EvalkitError
from .app import app, fail


@app.command()
def merge(
    out: str = typer.Argument(..., help="folder of the merged store (created if needed)"),
    shards: Optional[list[str]] = typer.Argument(None, help="shard folders (default: OUT/shards/*)"),
) -> None:
    """Merge shard stores into one: every artifact checked, conflicting records refused; idempotent."""
    from ..run.merge import merge_stores
    from ..run.shard_stores import shard_folders

    try:
        folders: list[str | Path] = list(shards or shard_folders(out))
        if not folders:
            raise EvalkitError(f"{out}: no shard folders given and none under {out}/shards")
        report = merge_stores(out, folders)
    except EvalkitError as exc:
        raise fail(str(exc))
    typer.echo(f"merged {report.shards} shard store(s) into {out}: {report.rows} rows, {report.artifacts} "
               f"artifacts and {report.sources} source-frame files new; {report.seconds:.1f} s", err=True)
    for run_id, status in report.runs.items():
        typer.echo(f"run {run_id}: {status}", err=True)
