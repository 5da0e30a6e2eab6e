"""A static leaderboard site (``evalkit leaderboard RUN... --out SITE``): works offline from the
file system (no CDN, no server), one page per benchmark.

Each page ranks only mutually comparable entries (same cases, same metric definitions: the
rule of evalkit.report.leaderboard) and lists the others apart with the reason. Columns are
grouped by what their metric measures (``MetricSpec.measures``), headed by ↑/↓ and n; cells
show mean ± S.E.M. and sort by the mean (click a header). Each row carries its provenance and,
for submissions, the submission's metadata, and links to its run's HTML report. A trade-off
scatter with the Pareto front sits under the table.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import EvalkitError
from .aggregate import MEASURES_ORDER, column_facts
from .definitions import config_key
from .html_report import CSS, build_html_report
from .leaderboard import Leaderboard, build_leaderboard
from .plots import default_pair, pareto_plot
from .sources import RunData

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead tr.cols th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-sort'), y = b.cells[col].getAttribute('data-sort');
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""
SITE_CSS = CSS + """
table.sortable thead tr.cols th{cursor:pointer} th[data-dir=asc]::after{content:' ▲'} th[data-dir=desc]::after{content:' ▼'}
th.group{text-align:center;background:#e8eef6} details{font-size:.85em;text-align:left} nav a{margin-right:12px}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "benchmark"


def benchmark_of(run: RunData) -> str:
    """The benchmark a run measures: its dataset and that dataset's options."""
    dataset = dict(run.plan.get("dataset") or {})
    name = dataset.pop("name", "") or "unknown dataset"
    dataset.pop("root", None)  # where the data lives is not what it is
    return f"{name} {config_key(dataset)}" if dataset else name


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{SITE_CSS}</style></head><body>\n"
            + "\n".join(body) + f"\n<script>{SORT_JS}</script>\n</body></html>\n")


def _details(entry, prov: dict[str, str]) -> str:
    items = [f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in prov.items()]
    submission = entry.run.provenance.get("generators", {}).get(entry.generator, {}).get("submission") or {}
    items += [f"<li><b>submission {html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
              for k, v in submission.items()]
    return f"<details><summary>provenance</summary><ul>{''.join(items)}</ul></details>"


def _table(lb: Leaderboard, reports: dict[str, str]) -> str:
    res = pd.concat([e.results for e in lb.entries], ignore_index=True)
    names = dict(res[["metric", "metric_name"]].drop_duplicates("metric").itertuples(index=False))
    facts = [column_facts(m, names[m]) for m in lb.metrics if m in names]
    facts.sort(key=lambda f: MEASURES_ORDER.get(f.measures, len(MEASURES_ORDER)))
    groups = [(g, sum(1 for f in facts if f.measures == g)) for g in dict.fromkeys(f.measures for f in facts)]
    head = ["<thead><tr><th colspan=\"2\"></th>"]
    head += [f"<th class=\"group\" colspan=\"{n}\">{html.escape(g)}</th>" for g, n in groups]
    head.append("<th colspan=\"3\"></th></tr><tr class=\"cols\"><th>rank</th><th>generator</th>")
    num = lb.numbers.set_index(["generator", "metric"])
    for f in facts:
        ns = sorted({int(num.loc[(e.key, f.column), "n"]) for e in lb.entries if (e.key, f.column) in num.index})
        head.append(f"<th title=\"{html.escape(f.reference)}\">{html.escape(f.column)} {f.arrow}"
                    f"<br><small>×{f.scale:g}, n={'/'.join(map(str, ns))}</small></th>")
    head.append("<th>mean rank</th><th>report</th><th>provenance</th></tr></thead>")
    rows = []
    for (_, row), entry in zip(lb.ranked.iterrows(), lb.entries):
        cells = [f"<td data-sort=\"{row['rank']}\">{row['rank']}</td>",
                 f"<td data-sort=\"{html.escape(entry.generator)}\">{html.escape(entry.generator)}</td>"]
        for f in facts:
            mean = num["mean"].get((entry.key, f.column), float("nan"))
            cells.append(f"<td data-sort=\"{mean if mean == mean else ''}\">"
                         f"{html.escape(str(row.get(f.label, '—')))}</td>")
        link = reports.get(entry.run.run_id)
        cells.append(f"<td data-sort=\"{row['mean rank']}\">{row['mean rank']}</td>")
        anchor = (f"<a href=\"{html.escape(link)}\">run {html.escape(entry.run.run_id)}</a>" if link else "—")
        cells.append(f"<td data-sort=\"\">{anchor}</td>")
        prov = {k: row[k] for k in ("run", "evalkit", "commit", "weights", "seeds", "device") if k in row}
        cells.append(f"<td data-sort=\"\">{_details(entry, prov)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table class=\"evalkit-table sortable\">" + "".join(head) + "<tbody>" + "".join(rows)
            + "</tbody></table>")


def _scatter(lb: Leaderboard) -> str:
    res = pd.concat([e.results.assign(generator=e.key) for e in lb.entries], ignore_index=True)
    pair = default_pair(res[res["metric"].isin(lb.metrics)])
    if pair is None:
        return "<p class=\"note\">no trade-off plot: fewer than two metrics with a direction</p>"
    png = pareto_plot(res, *pair, title=f"{pair[1]} vs {pair[0]} (mean ± S.E.M.)")
    return (f"<img class=\"plot\" alt=\"trade-off scatter with Pareto front\" "
            f"src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">")


def benchmark_page(title: str, lb: Leaderboard, reports: dict[str, str]) -> str:
    body = [f"<nav><a href=\"index.html\">all benchmarks</a></nav>", f"<h1>{html.escape(title)}</h1>",
            f"<p>Ranked on {html.escape(', '.join(lb.metrics))} (mean of per-metric ranks); cells are mean ± "
            "S.E.M.; click a header to sort. Only entries measured on the same cases with the same metric "
            "definitions are ranked together.</p>", _table(lb, reports), "<h2>Trade-off</h2>", _scatter(lb)]
    if not lb.apart.empty:
        rows = "".join(f"<tr><td>{html.escape(str(r.generator))}</td><td>{html.escape(str(r.run))}</td>"
                       f"<td>{html.escape(str(r.reason))}</td></tr>" for r in lb.apart.itertuples(index=False))
        body += ["<h2>Not ranked (not comparable with the table above)</h2>",
                 f"<table class=\"evalkit-table\"><tr><th>generator</th><th>run</th><th>reason</th></tr>{rows}</table>"]
    return _page(title, body)


def build_site(runs: Sequence[RunData], out: str | Path, *, metrics: Sequence[str] | None = None,
               reports: bool = True) -> Path:
    """Write ``out/index.html``, one page per benchmark and (``reports``) each run's HTML report."""
    if not runs:
        raise EvalkitError("leaderboard site: no runs given")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    links: dict[str, str] = {}
    if reports:
        (out / "reports").mkdir(exist_ok=True)
        for run in runs:
            (out / "reports" / f"{run.run_id}.html").write_text(build_html_report(run, galleries=False))
            links[run.run_id] = f"reports/{run.run_id}.html"
    by_benchmark: dict[str, list[RunData]] = {}
    for run in runs:
        by_benchmark.setdefault(benchmark_of(run), []).append(run)
    index = ["<h1>evalkit leaderboards</h1>", "<ul>"]
    for title, group in sorted(by_benchmark.items()):
        page = f"{_slug(title)}.html"
        (out / page).write_text(benchmark_page(title, build_leaderboard(group, metrics), links))
        index.append(f"<li><a href=\"{page}\">{html.escape(title)}</a> ({len(group)} run(s))</li>")
    index.append("</ul>")
    (out / "index.html").write_text(_page("evalkit leaderboards", index))
    return out / "index.html"
