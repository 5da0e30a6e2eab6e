"""A static leaderboard site (``evalkit leaderboard RUN... --out SITE``): works offline from the
file system (no CDN, no server, plain inline JS), one page per benchmark and an index with one
line per benchmark.

Each page ranks only mutually comparable entries (same cases, same metric definitions: the
rule of evalkit.report.leaderboard) and lists the others apart with the reason. Every row says
its status and completeness; entries of runs that did not finish (interrupted, killed, still
running) come after the complete ones, marked. Rows are named as a reader knows them: the
generator's display name (``--labels``), its options as chips, and, where two runs hold one
name, the run's date; run ids, commits and weights sit in each row's details. Benchmarks are
named by their dataset's title with its options as chips.

Columns are grouped by what their metric measures (``MetricSpec.measures``), headed by ↑/↓ and
n; cells show mean ± S.E.M. and sort by the mean (click a header). A filter box and column
toggles sit above the table; one chart per metric group and the trade-off scatter with its
Pareto front below it.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import EvalkitError
from .aggregate import MEASURES_ORDER, ColumnFacts, column_facts
from .benchmarks import Benchmark, benchmark_of, plain_names, row_names, run_date, shorten, split_label
from .html_report import build_html_report
from .leaderboard import Entry, Leaderboard, build_leaderboard
from .plots import default_pair, group_bars_plot, pareto_plot
from .site_assets import SITE_CSS, SITE_JS
from .sources import RunData

STATUS_CLASSES = ("complete", "partial", "interrupted", "running", "failed")


# -- rows ---------------------------------------------------------------------------------------

def _chip(shown: str, full: str = "") -> str:
    title = f' title="{html.escape(full)}"' if full and full != shown else ""
    return f'<span class="chip"{title}>{html.escape(shown)}</span>'


def _badge(status: str) -> str:
    word = status.split(":")[0].strip()
    cls = word if word in STATUS_CLASSES else "partial"
    return f'<span class="badge b-{cls}">{html.escape(word)}</span>'


def _status_cell(entry: Entry) -> str:
    status = entry.status()
    detail = status.split(":", 1)[1].strip() if ":" in status else f"{entry.ok} of {entry.expected} results ok"
    share = entry.ok / entry.expected if entry.expected else 0.0
    return (f'<td class="status c-status" data-sort="{share:.6f}">{_badge(status)}<br>'
            f'<small>{html.escape(detail)}</small></td>')


def _name_cell(name: str, chips: list[str], qual: str, cls: str = "name") -> str:
    return (f'<td class="{cls}" data-sort="{html.escape(name)}"><b>{html.escape(name)}</b> '
            + "".join(_chip(shorten(c), c) for c in chips)
            + (f'<span class="qual">{html.escape(qual)}</span>' if qual else "") + "</td>")


def _details(entry: Entry, prov: dict[str, str]) -> str:
    items = [f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in prov.items()]
    generator_id = (entry.results["generator_id"].iloc[0] if "generator_id" in entry.results and len(entry.results)
                    else entry.generator)
    if generator_id != entry.generator:
        items.insert(0, f"<li><b>generator</b>: {html.escape(str(generator_id))}</li>")
    submission = entry.run.provenance.get("generators", {}).get(generator_id, {}).get("submission") or {}
    items += [f"<li><b>submission {html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
              for k, v in submission.items()]
    return f"<details><summary>details</summary><ul>{''.join(items)}</ul></details>"


def _search_text(entry: Entry, name: str, chips: list[str], qual: str) -> str:
    return " ".join([name, *chips, qual, entry.status(), entry.run.run_id])


# -- the table ----------------------------------------------------------------------------------

def _facts(lb: Leaderboard) -> list[ColumnFacts]:
    res = pd.concat([e.results for e in lb.entries], ignore_index=True)
    cols = ["metric", "metric_name"] + (["metric_display"] if "metric_display" in res else [])
    pairs = {r[0]: r[1:] for r in res[cols].drop_duplicates("metric").itertuples(index=False)}
    facts = [column_facts(m, pairs[m][0], (pairs[m][1] if len(pairs[m]) > 1 else "") or "")
             for m in lb.metrics if m in pairs]
    return sorted(facts, key=lambda f: MEASURES_ORDER.get(f.measures, len(MEASURES_ORDER)))


def _groups(facts: list[ColumnFacts]) -> list[tuple[str, list[ColumnFacts]]]:
    return [(g, [f for f in facts if f.measures == g]) for g in dict.fromkeys(f.measures for f in facts)]


def _column_class(i: int) -> str:
    return f"c-m{i}"


def _controls(facts: list[ColumnFacts]) -> str:
    boxes = [(_column_class(i), f.name) for i, f in enumerate(facts)]
    boxes += [("c-meanrank", "mean rank"), ("c-status", "status"), ("c-report", "report"), ("c-details", "details")]
    toggles = "".join(f'<label><input type="checkbox" data-col="{c}" checked> {html.escape(name)}</label>'
                      for c, name in boxes)
    return ('<div class="controls"><input type="search" id="filter" placeholder="Filter rows: name, option, status…" '
            'aria-label="filter rows"><span id="shown"></span>'
            f'<fieldset class="toggles"><legend class="sr">Columns:</legend>{toggles}</fieldset></div>')


def _table(lb: Leaderboard, reports: dict[str, str], facts: list[ColumnFacts]) -> str:
    index = {f.column: i for i, f in enumerate(facts)}
    head = ['<thead><tr><th colspan="3"></th>']
    for group, members in _groups(facts):
        cols = " ".join(_column_class(index[f.column]) for f in members)
        head.append(f'<th class="group" colspan="{len(members)}" data-cols="{cols}">{html.escape(group)}</th>')
    head.append('<th colspan="3"></th></tr><tr class="cols"><th>rank</th><th>generator</th>'
                '<th class="c-status">status</th>')
    num = lb.numbers.set_index(["generator", "metric"])
    for f in facts:
        ns = sorted({int(num.loc[(e.key, f.column), "n"]) for e in lb.entries if (e.key, f.column) in num.index})
        tip = f.reference + (f" ({f.column})" if f.display else "")
        head.append(f'<th class="{_column_class(index[f.column])}" title="{html.escape(tip)}">'
                    f'{html.escape(f.name)} {f.arrow}<br><small>×{f.scale:g}, n={"/".join(map(str, ns))}</small></th>')
    head.append('<th class="c-meanrank">mean rank</th><th class="c-report">report</th>'
                '<th class="c-details">details</th></tr></thead>')
    rows = []
    for (_, row), entry, (name, chips, qual) in zip(lb.ranked.iterrows(), lb.entries, row_names(lb.entries)):
        cells = [f'<td class="rank" data-sort="{row["rank"]}">{row["rank"]}</td>', _name_cell(name, chips, qual),
                 _status_cell(entry)]
        for f in facts:
            mean = num["mean"].get((entry.key, f.column), float("nan"))
            cells.append(f'<td class="{_column_class(index[f.column])}" data-sort="{mean if mean == mean else ""}">'
                         f'{html.escape(str(row.get(f.label, "—")))}</td>')
        cells.append(f'<td class="c-meanrank" data-sort="{row["mean rank"]}">{row["mean rank"]}</td>')
        link = reports.get(entry.run.run_id)
        anchor = (f'<a href="{html.escape(link)}" title="run {html.escape(entry.run.run_id)}">report</a>'
                  if link else "—")
        cells.append(f'<td class="c-report" data-sort="">{anchor}</td>')
        prov = {k: row[k] for k in ("run", "evalkit", "commit", "weights", "seeds", "device") if k in row}
        prov["origin"] = entry.run.origin
        cells.append(f'<td class="c-details" data-sort="">{_details(entry, prov)}</td>')
        search = html.escape(_search_text(entry, name, chips, qual))
        unfinished = ' class="unfinished"' if not entry.finished else ""
        rows.append(f'<tr{unfinished} data-search="{search}">' + "".join(cells) + "</tr>")
    return ('<div class="scroll"><table class="evalkit-table sortable filterable">' + "".join(head) + "<tbody>"
            + "".join(rows) + "</tbody></table></div>")


def _apart(lb: Leaderboard) -> str:
    if lb.apart.empty:
        return ""
    rows = []
    for r in lb.apart.itertuples(index=False):
        name, chips = split_label(str(r.generator))
        status = str(r.status)
        detail = status.split(":", 1)[1].strip() if ":" in status else ""
        prov = {k: getattr(r, k) for k in ("run", "evalkit", "commit", "weights", "seeds", "device")}
        items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in prov.items())
        rows.append(f'<tr data-search="{html.escape(" ".join([name, *chips, status, str(r.run)]))}">'
                    + _name_cell(name, chips, "")
                    + f'<td class="status">{_badge(status)}' + (f"<br><small>{html.escape(detail)}</small>" if detail
                                                                 else "") + "</td>"
                    + f'<td class="reason">{html.escape(str(r.reason))}</td>'
                    + f"<td><details><summary>details</summary><ul>{items}</ul></details></td></tr>")
    return ("<h2>Not ranked (not comparable with the table above)</h2>"
            '<div class="scroll"><table class="evalkit-table filterable"><thead><tr><th>generator</th><th>status</th>'
            f'<th>reason</th><th>details</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


# -- charts -------------------------------------------------------------------------------------

def _img(png: bytes, alt: str) -> str:
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _charts(lb: Leaderboard, facts: list[ColumnFacts]) -> str:
    names = dict(zip((e.key for e in lb.entries), plain_names(lb.entries)))
    hatched = {names[e.key] for e in lb.entries if not e.finished}
    num = lb.numbers[lb.numbers["generator"].isin(list(names))]
    order = {k: i for i, k in enumerate(names)}
    points = pd.DataFrame({"label": num["generator"].map(names), "column": num["metric"],
                           "mean": num["mean"] * num["scale"], "sem": num["sem"] * num["scale"], "n": num["n"],
                           "_order": num["generator"].map(order)}).sort_values("_order", kind="stable")
    out = []
    for group, members in _groups(facts):
        part = points[points["column"].isin([f.column for f in members])]
        if part["mean"].notna().any():
            png = group_bars_plot(part, members, title=f"{group}: mean ± S.E.M. per entry", hatched=hatched)
            out.append(f"<figure>{_img(png, f'{group} metrics per entry')}"
                       f"<figcaption>{html.escape(group)}: {html.escape(', '.join(f.name for f in members))}"
                       "</figcaption></figure>")
    return "<h2>Metrics by group</h2>" + "".join(out) if out else ""


def _scatter(lb: Leaderboard) -> str:
    names = [n + ("" if e.finished else " *") for e, n in zip(lb.entries, plain_names(lb.entries))]
    res = pd.concat([e.results.assign(generator=n) for e, n in zip(lb.entries, names)], ignore_index=True)
    pair = default_pair(res[res["metric"].isin(lb.metrics)])
    if pair is None:
        return "<h2>Trade-off</h2><p class=\"note\">no trade-off plot: fewer than two metrics with values</p>"
    png = pareto_plot(res, *pair, size=(7.5, 5.2))
    marked = '<p class="note">* run did not finish</p>' if any(not e.finished for e in lb.entries) else ""
    return "<h2>Trade-off</h2>" + _img(png, "trade-off scatter with Pareto front") + marked


# -- pages --------------------------------------------------------------------------------------

def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{SITE_CSS}</style></head><body>\n"
            + "\n".join(body) + f"\n<script>{SITE_JS}</script>\n</body></html>\n")


def _heading(bench: Benchmark) -> str:
    chips = "".join(_chip(shown, full) for shown, full in bench.chips())
    return f"<h1>{html.escape(bench.title)}</h1>" + (f"<p>{chips}</p>" if chips else "")


def _run_note(run: RunData) -> str:
    """'[interrupted] The run of 2026-12-08 03:15 UTC did not finish: 6 of 12 results ok, 6 missing.'"""
    status = run.effective_status()
    when = f" of {run_date(run)}" if run_date(run) else ""
    verb = {"running": "is still running", "failed": "failed"}.get(status, "did not finish")
    return (f'<p class="note">{_badge(status)} The run{html.escape(when)} {verb}: '
            f'{html.escape(run.outcome().counts())} (details: run {html.escape(run.run_id)}).</p>')


def benchmark_page(bench: Benchmark, lb: Leaderboard, reports: dict[str, str], runs: list[RunData]) -> str:
    facts = _facts(lb)
    unfinished = sum(1 for e in lb.entries if not e.finished)
    apart = f"; {len(lb.apart)} not comparable, listed below" if len(lb.apart) else ""
    summary = (f"{len(lb.entries)} entries ranked on {', '.join(f.name for f in facts)} (mean of per-metric ranks) "
               f"from {len(runs)} run{'s' if len(runs) != 1 else ''}{apart}.")
    body = ['<nav><a href="index.html">← all benchmarks</a></nav>', _heading(bench)]
    if bench.description:
        body.append(f"<p>{html.escape(bench.description)}</p>")
    body.append(f"<p>{html.escape(summary)} Cells are mean ± S.E.M.; click a header to sort. Only entries measured "
                "on the same cases with the same metric definitions are ranked together.</p>")
    if unfinished:
        body.append(f'<p class="note">{unfinished} entr{"y" if unfinished == 1 else "ies"} of runs that did not '
                    "finish (marked *): ranked after the complete ones; their status says how far they got.</p>")
    body += [_run_note(r) for r in runs if r.effective_status() != "complete"]
    body += [_controls(facts), _table(lb, reports, facts), _charts(lb, facts), _scatter(lb), _apart(lb)]
    return _page(f"{bench.heading} · evalkit leaderboard", body)


def _index_line(bench: Benchmark, page: str, lb: Leaderboard, runs: list[RunData]) -> str:
    chips = "".join(_chip(shown, full) for shown, full in bench.chips())
    leaders = [n for n, r in zip(plain_names(lb.entries), lb.ranked["rank"]) if r == 1]
    statuses = pd.Series([r.effective_status() for r in runs]).value_counts()
    state = ("all runs " + _badge("complete") if set(statuses.index) <= {"complete"} else
             ", ".join(f"{n} {_badge(str(s))}" for s, n in statuses.items()))
    meta = (f"{len(runs)} run{'s' if len(runs) != 1 else ''} · {len(lb.entries)} ranked"
            + (f", {len(lb.apart)} not comparable" if len(lb.apart) else "")
            + f" · leader: {', '.join(leaders) or '—'} · ")
    return (f'<li><a href="{html.escape(page)}"><b>{html.escape(bench.title)}</b></a> '
            f'{chips or "<small>(default options)</small>"}<span class="meta">{html.escape(meta)}{state}</span></li>')


def build_site(runs: Sequence[RunData], out: str | Path, *, metrics: Sequence[str] | None = None,
               reports: bool = True) -> Path:
    """Write ``out/index.html``, one page per benchmark and (``reports``) each run's HTML report."""
    if not runs:
        raise EvalkitError("leaderboard site: no runs given")
    by_benchmark: dict[Benchmark, list[RunData]] = {}
    for run in runs:
        by_benchmark.setdefault(benchmark_of(run), []).append(run)
    boards = {bench: build_leaderboard(group, metrics) for bench, group in by_benchmark.items()}   # errors first
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    links: dict[str, str] = {}
    if reports:
        (out / "reports").mkdir(exist_ok=True)
        for run in runs:
            (out / "reports" / f"{run.run_id}.html").write_text(build_html_report(run, galleries=False))
            links[run.run_id] = f"reports/{run.run_id}.html"
    lines = []
    for bench in sorted(by_benchmark, key=lambda b: (b.title.lower(), b.options)):
        page = f"{bench.slug}.html"
        (out / page).write_text(benchmark_page(bench, boards[bench], links, by_benchmark[bench]))
        lines.append(_index_line(bench, page, boards[bench], by_benchmark[bench]))
    index = ["<h1>evalkit leaderboards</h1>",
             f"<p>{len(by_benchmark)} benchmark{'s' if len(by_benchmark) != 1 else ''}; each page ranks the "
             "entries measured on the same cases with the same metric definitions.</p>",
             '<ul class="benchmarks">', *lines, "</ul>"]
    (out / "index.html").write_text(_page("evalkit leaderboards", index))
    return out / "index.html"
