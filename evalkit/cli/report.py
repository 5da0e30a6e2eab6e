"""``evalkit report RUN_DIR_OR_ID``: a run's seed table as Markdown, CSV, LaTeX or a full HTML report."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EvalkitError
from ..run.plan import split_components
from .app import app, fail

FORMATS = ("md", "csv", "html", "latex")


@app.command()
def report(
    runs: list[str] = typer.Argument(..., help="DIR (latest run), DIR:RUN_ID, store.sqlite, baseline .json, "
                                                "or a RUN_ID of ./runs; several with --leaderboard"),
    fmt: str = typer.Option("md", "--format", "-f", help="md | csv | html | latex"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write to this file instead of stdout"),
    by_category: bool = typer.Option(False, "--by-category", help="one row per case category × generator"),
    over: str = typer.Option("cases", "--over", help="unit of the mean ± S.E.M.: cases (a multi-shot set is one "
                                                      "case) | videos (every shot counts once)"),
    leaderboard: bool = typer.Option(False, "--leaderboard", help="rank the generators of all given runs"),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="comma-separated report columns to include"),
    pareto: Optional[str] = typer.Option(None, "--pareto", help="X,Y columns of the Pareto scatter (html)"),
    runtime_base: Optional[str] = typer.Option(None, "--runtime-base", help="base generator of the overhead ratio"),
    max_cases: int = typer.Option(12, "--max-cases", help="cases in the HTML galleries"),
    plots_dir: Optional[Path] = typer.Option(None, "--plots", help="also write the plots as PNG files here"),
) -> None:
    """Mean ± S.E.M. per generator × metric (the seed-table format) in the chosen format."""
    import pandas as pd

    from ..report import html_report, plots
    from ..report.definitions import select_columns
    from ..report.leaderboard import build_leaderboard
    from ..report.markup import markdown_escape, to_csv
    from ..report.sources import load_run
    from ..report.tables import render_csv, render_latex, render_markdown, summary_table

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if over not in ("cases", "videos"):
        raise fail(f"--over must be cases or videos, got {over!r}")
    if len(runs) > 1 and not leaderboard:
        raise fail("several runs given: add --leaderboard to rank them together")
    try:
        data = [load_run(r) for r in runs]
    except EvalkitError as exc:
        raise fail(str(exc))
    cols = None
    run = data[0]
    res = run.results
    if metrics:
        every = pd.concat([d.results for d in data], ignore_index=True)
        cols, unknown = select_columns(every, split_components(metrics))
        if unknown:
            raise fail(f"--metrics: {', '.join(unknown)} not in the run{'s' if len(data) > 1 else ''} (columns: "
                       f"{', '.join(sorted(set(every['metric'])))}; write a column or name[option=value] as on "
                       f"`evalkit run -m`)")
        res = res[res["metric"].isin(cols)]
        run.results = res
    pair = None
    if pareto:
        pair, unknown = select_columns(res, split_components(pareto))
        if unknown or len(pair) != 2:
            raise fail(f"--pareto {pareto!r}: give two columns of the run, X,Y"
                       + (f" ({', '.join(unknown)} not in it)" if unknown else ""))
        pair = tuple(pair)
    try:
        if leaderboard:
            lb = build_leaderboard(data, cols)
            text = {"md": lb.to_markdown, "html": lb.to_html, "csv": lambda: to_csv(lb.ranked),
                    "latex": lb.to_latex}[fmt]()
        elif fmt == "md":
            note = run.status_note()
            text = (f"**{markdown_escape(note)}**\n\n" if note else "") + render_markdown(
                summary_table(res, by_category=by_category, over=over), title=f"Run {run.run_id}")
        elif fmt == "csv":
            text = render_csv(res, by_category=by_category, over=over, run_status=run.effective_status())
        elif fmt == "latex":
            note = run.status_note(short=True)
            text = render_latex(res, by_category=by_category, caption=(f"{note}. " if note else "")
                                + f"evalkit run {run.run_id}", label=f"tab:evalkit-{run.run_id}", over=over)
        else:
            text = html_report.build_html_report(run, by_category=True, pareto=pair, runtime_base=runtime_base,
                                                 max_cases=max_cases, over=over)
        if plots_dir is not None:
            plots_dir.mkdir(parents=True, exist_ok=True)
            _write_plots(plots, run, plots_dir, pair, runtime_base)
    except EvalkitError as exc:
        raise fail(str(exc))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        typer.echo(f"wrote {out}", err=True)


def _write_plots(plots, run, folder: Path, pair, runtime_base) -> None:
    pair = pair or plots.default_pair(run.results)
    if pair:
        (folder / "pareto.png").write_bytes(plots.pareto_plot(run.results, *pair))
    if not run.generations.empty:
        (folder / "runtime.png").write_bytes(plots.runtime_plot(run.generations, base=runtime_base))
