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
    metrics: Optional[str] = typer.Option(None, "--metrics", help="comma-separated columns to include, written "
                                                                  "as columns or as on `evalkit run -m`"),
    pareto: Optional[str] = typer.Option(None, "--pareto", help="X,Y columns of the Pareto scatter (html, --plots)"),
    runtime_base: Optional[str] = typer.Option(None, "--runtime-base", help="base generator of the overhead ratio"),
    max_cases: int = typer.Option(12, "--max-cases", help="cases in the HTML galleries and --plots y–t slices"),
    plots_dir: Optional[Path] = typer.Option(None, "--plots", help="also write the plots and y–t slices as PNG "
                                                                    "files here"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="YAML/JSON display names: generators, metrics, "
                                                                  "categories (id: name)"),
    wide: bool = typer.Option(False, "--wide", help="LaTeX: a table* spanning both columns of a two-column paper"),
) -> None:
    """Mean ± S.E.M. per generator × metric (the seed-table format) in the chosen format."""
    from ..report.labels import DisplayNames, labels_of
    from ..report.sources import load_run

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if over not in ("cases", "videos"):
        raise fail(f"--over must be cases or videos, got {over!r}")
    if len(runs) > 1 and not leaderboard:
        raise fail("several runs given: add --leaderboard to rank them together")
    if max_cases < 0:
        raise fail(f"--max-cases {max_cases}: must be ≥ 0")
    try:
        data = [load_run(r) for r in runs]
        names = DisplayNames.read(labels) if labels else DisplayNames()
        if runtime_base:
            runtime_base = (labels_of(data[0]) | names).generator_names(data[0].results).get(runtime_base, runtime_base)
        data = [(labels_of(d) | names).apply_run(d) for d in data]
        cols, pair = _columns(data, metrics, pareto)
        text = _render(data, fmt, cols, pair, by_category=by_category, over=over, leaderboard=leaderboard,
                       runtime_base=runtime_base, max_cases=max_cases, wide=wide)
        if plots_dir is not None:
            for line in write_plots(data[0], plots_dir, pair, runtime_base, max_cases):
                typer.echo(line, err=True)
    except EvalkitError as exc:
        raise fail(str(exc))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        typer.echo(f"wrote {out}", err=True)


def _columns(data, metrics: str | None, pareto: str | None):
    """The --metrics columns (None: all) and the --pareto pair, as columns of the runs."""
    import pandas as pd

    from ..report.definitions import select_columns

    every = pd.concat([d.results for d in data], ignore_index=True)
    cols = None
    if metrics:
        cols, unknown = select_columns(every, split_components(metrics))
        if unknown:
            raise EvalkitError(f"--metrics: {', '.join(unknown)} not in the run{'s' if len(data) > 1 else ''} "
                               f"(columns: {', '.join(sorted(set(every['metric'])))}; write a column or "
                               f"name[option=value] as on `evalkit run -m`)")
        for d in data:
            d.results = d.results[d.results["metric"].isin(cols)]
    pair: tuple[str, ...] | None = None
    if pareto:
        named, unknown = select_columns(data[0].results, split_components(pareto))
        if unknown or len(named) != 2:
            raise EvalkitError(f"--pareto {pareto!r}: give two columns of the run, X,Y"
                               + (f" ({', '.join(unknown)} not in it)" if unknown else ""))
        pair = tuple(named)
    return cols, pair


def _render(data, fmt, cols, pair, *, by_category, over, leaderboard, runtime_base, max_cases, wide) -> str:
    from ..report import html_report
    from ..report.leaderboard import build_leaderboard
    from ..report.markup import markdown_escape, to_csv
    from ..report.protocol_warnings import warnings_markdown
    from ..report.tables import render_csv, render_latex, render_markdown, summary_table

    run = data[0]
    res = run.results
    if leaderboard:
        lb = build_leaderboard(data, cols)
        return {"md": lb.to_markdown, "html": lb.to_html, "csv": lambda: to_csv(lb.ranked),
                "latex": lambda: lb.to_latex(wide=wide)}[fmt]()
    if fmt == "md":
        note = run.status_note()
        return (f"**{markdown_escape(note)}**\n\n" if note else "") + render_markdown(
            summary_table(res, by_category=by_category, over=over), title=f"Run {run.run_id}") \
            + warnings_markdown(run)
    if fmt == "csv":
        return render_csv(res, by_category=by_category, over=over, run_status=run.effective_status())
    if fmt == "latex":
        note = run.status_note(short=True)
        return render_latex(res, by_category=by_category, caption=(f"{note}. " if note else "")
                            + f"evalkit run {run.run_id}", label=f"tab:evalkit-{run.run_id}", over=over, wide=wide)
    return html_report.build_html_report(run, by_category=True, pareto=pair, runtime_base=runtime_base,
                                         max_cases=max_cases, over=over)


def write_plots(run, folder: Path, pair, runtime_base, max_cases: int) -> list[str]:
    """Every plot the run supports, and a y–t contact sheet per case; a line per file written or
    plot skipped (with why: never an empty plot)."""
    from ..report import html_report, plots
    from ..report.yt_slices import contact_sheet, png_bytes

    folder.mkdir(parents=True, exist_ok=True)
    res, lines = run.results, []
    pair = pair or plots.default_pair(res)

    def pareto() -> bytes:
        if pair is None:
            raise EvalkitError("fewer than two metric columns with values")
        return plots.pareto_plot(res, *pair)

    jobs = [("pareto.png", pareto),
            ("runtime.png", lambda: plots.runtime_plot(run.generations, base=runtime_base)),
            ("tradeoff.png", lambda: plots.tradeoff_plot(res, plots.numeric_columns(res)[:2],
                                                         extras=run.generation_extras()))]
    for name, make in jobs:
        try:
            (folder / name).write_bytes(make())
            lines.append(f"wrote {folder / name}")
        except (EvalkitError, ValueError, KeyError) as exc:
            lines.append(f"skipped {name}: {exc}")
    cases, why = html_report.case_videos(run, max_cases)
    if why:
        lines.append(f"y–t slices: {why}")
    for i, (cid, (videos, problems)) in enumerate(cases.items()):
        if videos:
            path = folder / f"yt-slices-{i:03d}-{_file_name(cid)}.png"
            path.write_bytes(png_bytes(contact_sheet(videos)))
            lines.append(f"wrote {path} ({cid})")
        lines += [f"y–t slices of {cid}: {p}" for p in problems]
    return lines


def _file_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60] or "case"


@app.command("leaderboard")
def leaderboard_site(
    runs: list[str] = typer.Argument(..., help="runs: --out folders, folder:RUN_ID, .sqlite stores or baseline .json"),
    out: Path = typer.Option(..., "--out", help="folder of the static site (index.html + one page per benchmark)"),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="comma-separated report columns to rank on, "
                                                                        "written as columns or as on `evalkit run -m`"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="YAML/JSON display names: generators, metrics, "
                                                                  "categories (id: name)"),
    no_reports: bool = typer.Option(False, "--no-reports", help="skip each run's HTML report (linked per row)"),
) -> None:
    """Build a static leaderboard site that works offline from the file system."""
    from ..report.labels import DisplayNames, labels_of
    from ..report.site import build_site
    from ..report.sources import load_run

    try:
        data = [load_run(r) for r in runs]
        names = DisplayNames.read(labels) if labels else DisplayNames()
        data = [(labels_of(d) | names).apply_run(d) for d in data]
        cols, _ = _columns(data, metrics, None)
        index = build_site(data, out, metrics=cols, reports=not no_reports)
    except EvalkitError as exc:
        raise fail(str(exc))
    typer.echo(f"site: {index}")
