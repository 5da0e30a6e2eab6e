"""``evalkit analyze ANALYSIS DATASET -g GENERATOR``: run a registered analysis (not a metric), e.g.
V-Warper's layer-wise PCK correspondence probe, and write its tables and plot to ``--out``."""
from __future__ import annotations

from typing import Optional

import typer

from ..errors import EvalkitError
from .app import app, fail


@app.command()
def analyze(
    analysis: str = typer.Argument(..., help="a registered analysis, e.g. correspondence-pck"),
    dataset: str = typer.Argument(..., help="dataset[key=value,...], e.g. dreambooth-personalization[subjects=dog]"),
    generator: str = typer.Option(..., "--generator", "-g", help="the prober: name[key=value,...], e.g. vwarper"),
    settings: Optional[list[str]] = typer.Option(None, "--set", help="KEY=VALUE option of the analysis (repeatable; "
                                                                     "e.g. --set steps=[10,20] --set layers=[12])"),
    out: str = typer.Option("analysis", "--out", "-o", help="folder of the tables and the plot"),
    root: Optional[str] = typer.Option(None, "--root", help="data root of the dataset"),
    seeds: str = typer.Option("0", "--seeds", help="comma-separated seeds"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N"),
    limit: Optional[int] = typer.Option(None, "--limit", help="only the first N cases"),
) -> None:
    """Run ANALYSIS over the cases of DATASET with the GENERATOR's internals."""
    import yaml

    from ..registry import ANALYSES, DATASETS, GENERATORS
    from ..run.plan import ComponentSpec

    try:
        ds = ComponentSpec.parse(dataset)
        generator_spec = ComponentSpec.parse(generator)
        options = {}
        for item in settings or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise fail(f"--set {item!r}: expected KEY=VALUE")
            options[key.strip()] = yaml.safe_load(value)
        cases = DATASETS.get(ds.name)(**{**ds.options, **({"root": root} if root else {})}).cases()[:limit]
        if not cases:
            raise fail(f"dataset {ds.name!r} produced no cases")
        prober = GENERATORS.get(generator_spec.name)(device=device, **generator_spec.options)
        result = ANALYSES.get(analysis)(device=device, **options).run(
            prober, cases, [int(s) for s in seeds.split(",")], out=out)
    except EvalkitError as exc:
        raise fail(str(exc))
    for feature, best in sorted(result.best_layers().items()):
        typer.echo(f"{feature}: best layer {best['layer']} (PCK {best['pck']:.3f})")
    failed = int((result.frame["error"] != "").sum())
    typer.echo(f"{len(result.frame)} rows ({failed} failed) written to {out}/")
