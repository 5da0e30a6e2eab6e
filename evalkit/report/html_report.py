"""A single self-contained HTML report of a run: provenance, tables, plots, per-case galleries.

Everything is inline (PNG plots and contact sheets as base64, videos as small animated GIFs),
so the file can be mailed or attached to a CI job. Sections that cannot be built (no
injection-fraction sweep, artifacts missing, source videos unavailable) say why instead.

Generated videos come from the run's artifacts (RunData.generations). Source videos do not:
the store keeps only what generators produced, and a case's source is defined by the dataset
spec the plan records (its frames may live in ../shared/data, outside the run folder). So the
galleries resolve sources through the plan's dataset spec, the one place the run names them,
and say so in the report when that data is not reachable.
"""
from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Sequence

from ..errors import EvalkitError
from ..video import Video
from . import plots
from .aggregate import facts_for
from .leaderboard import build_leaderboard
from .markup import Grid, grid_of, html_escape, to_html
from .protocol_warnings import protocol_warnings, warning_line
from .sources import RunData
from .tables import render_html
from .yt_slices import animation_bytes, contact_sheet, load_artifact_videos, png_bytes

log = logging.getLogger(__name__)

# The identity–motion trade-off of Motion by Queries Fig. 2 plots these two metrics; a report
# preference, not a metric fact (directions and scales still come from the specs).
TRADEOFF_METRICS = ("motion-fidelity", "identity-leakage")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:1.6em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table.evalkit-table{border-collapse:collapse;margin:8px 0;font-size:.9em}
table.evalkit-table th,table.evalkit-table td{border:1px solid #ccc;padding:4px 8px;text-align:right}
table.evalkit-table th{background:#f3f3f3;text-align:left}
td.best,td.strong{font-weight:bold} td.second{text-decoration:underline} td.strong{color:#b00}
ul.footnotes{font-size:.8em;color:#555} .prov{font-size:.85em;color:#444}
.case{margin:12px 0;padding:8px;border:1px solid #e3e3e3} .gifs{display:flex;flex-wrap:wrap;gap:8px}
.gifs figure{margin:0;text-align:center;font-size:.8em} img.plot{max-width:100%}
.note{color:#a60}
"""


def _img(data: bytes, mime: str, alt: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<img{c} alt="{html_escape(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _note(text: str) -> str:
    return f'<p class="note">{html_escape(text)}</p>'


def _provenance(run: RunData) -> str:
    prov = run.provenance
    items = [("run", run.run_id), ("origin", run.origin), ("status", run.effective_status()),
             ("evalkit", prov.get("evalkit_version")), ("commit", prov.get("git_commit")),
             ("device", prov.get("device")), ("seeds", prov.get("seeds")), ("python", prov.get("python")),
             ("platform", prov.get("platform"))]
    pk = prov.get("packages") or {}
    if pk:
        items.append(("packages", ", ".join(f"{k} {v}" for k, v in sorted(pk.items()))))
    plan = run.plan
    if plan:
        items.append(("dataset", plan.get("dataset")))
        items.append(("generators", plan.get("generators")))
        items.append(("metrics", plan.get("metrics")))
    rows = "".join(f"<tr><th>{html_escape(k)}</th><td style='text-align:left'>{html_escape(str(v))}</td></tr>"
                   for k, v in items if v not in (None, "", [], {}))
    return f'<table class="evalkit-table prov">{rows}</table>'


def _source_videos(run: RunData, case_ids: Sequence[str]) -> tuple[dict[str, Video], str]:
    """Source videos of the cases from the plan's dataset spec (see the module doc for why);
    ({}, reason) when the spec is missing or its data is not reachable from here."""
    spec = run.plan.get("dataset")
    if not isinstance(spec, dict) or "name" not in spec:
        return {}, "source videos: the run records no dataset spec"
    try:
        from ..registry import DATASETS

        opts = {k: v for k, v in spec.items() if k != "name"}
        cases = {c.case_id: c for c in DATASETS.get(spec["name"])(**opts).cases()}
        out = {}
        for cid in case_ids:
            src = getattr(cases.get(cid), "source", None)
            if src is not None:
                out[cid] = src.load()
        return out, ""
    except Exception as exc:  # a missing data root must not sink the whole report
        return {}, f"source videos of dataset {spec['name']!r} unavailable here ({type(exc).__name__}: {exc})"


def case_videos(run: RunData, max_cases: int) -> tuple[dict[str, tuple[list, list[str]]], str]:
    """case id -> ([(label, Video)] with the source first where reachable, problems), for the
    first ``max_cases`` cases with artifacts; and why there are none (or sources are missing)."""
    gens = run.generations
    if gens.empty or "artifact" not in gens:
        return {}, "no generation artifacts recorded"
    if run.root is None:
        return {}, "artifacts are not available for a saved baseline"
    gens = gens[(gens["status"] == "ok") & gens["artifact"].astype(bool)]
    case_ids = list(dict.fromkeys(gens["case_id"]))[:max_cases]
    sources, why = _source_videos(run, case_ids)
    out = {}
    for cid in case_ids:
        videos: list[tuple[str, Video]] = [("source", sources[cid])] if cid in sources else []
        problems = []
        for r in gens[gens["case_id"] == cid].drop_duplicates("generator").itertuples(index=False):
            path = Path(r.artifact)
            path = path if path.is_absolute() else run.root / path
            try:
                vids = load_artifact_videos(path, getattr(r, "artifact_digest", None) or None)
            except EvalkitError as exc:
                problems.append(str(exc))
                continue
            videos += [(r.generator if len(vids) == 1 else f"{r.generator} #{i}", v) for i, v in enumerate(vids)]
        out[cid] = (videos, problems)
    return out, why


def _galleries(run: RunData, max_cases: int, gif_width: int) -> str:
    cases, why = case_videos(run, max_cases)
    parts = [_note(why)] if why else []
    for cid, (videos, problems) in cases.items():
        if not videos:
            parts.append(f'<div class="case"><h3>{html_escape(cid)}</h3>{_note("; ".join(problems))}</div>')
            continue
        sheet = _img(png_bytes(contact_sheet(videos)), "image/png", f"y–t slices of {cid}")
        figs = "".join(f"<figure>{_img(*animation_bytes(v, width=gif_width), label)}"
                       f"<figcaption>{html_escape(label)}</figcaption></figure>" for label, v in videos)
        parts.append(f'<div class="case"><h3>{html_escape(cid)}</h3><div class="gifs">{figs}</div>'
                     f"<p>y–t slices (first frame with the column of maximum temporal variance of the first "
                     f"row, that column over time, the same column in every row):</p>{sheet}"
                     + (_note("; ".join(problems)) if problems else "") + "</div>")
    return "\n".join(parts)


def _plots(run: RunData, pareto: tuple[str, str] | None, runtime_base: str | None) -> str:
    res = run.results
    out = []
    metric_names = dict(res[["metric", "metric_name"]].drop_duplicates("metric").itertuples(index=False))
    names = {c: f.name for c, f in facts_for(res).items()}
    found = [next((c for c, n in metric_names.items() if n == m), None) for m in TRADEOFF_METRICS]
    trade_cols = [c for c in found if c]
    if trade_cols:
        try:
            out.append("<h3>Identity–motion trade-off</h3>" + _img(
                plots.tradeoff_plot(res, trade_cols, extras=run.generation_extras()), "image/png",
                "trade-off plot", "plot"))
        except EvalkitError as exc:
            out.append("<h3>Identity–motion trade-off</h3>" + _note(str(exc)))
    pair = pareto or plots.default_pair(res, TRADEOFF_METRICS)
    if pair:
        try:
            out.append(f"<h3>{html_escape(names[pair[1]])} vs {html_escape(names[pair[0]])} (Pareto front)</h3>"
                       + _img(plots.pareto_plot(res, *pair), "image/png", "pareto plot", "plot"))
        except EvalkitError as exc:
            out.append(_note(str(exc)))
    if plots.training_curve_data(run.generation_extras()):
        out.append("<h3>Per-subject training loss</h3>" + _img(plots.training_curves_plot(run.generation_extras()),
                                                               "image/png", "training curves", "plot"))
    if not run.generations.empty:
        try:
            out.append("<h3>Runtime breakdown</h3>" + _img(
                plots.runtime_plot(run.generations, base=runtime_base), "image/png", "runtime plot", "plot"))
            out.append(to_html(_runtime_grid(plots.runtime_data(run.generations, runtime_base), runtime_base)))
        except EvalkitError as exc:   # no plot rather than an empty one
            out.append("<h3>Runtime breakdown</h3>" + _note(str(exc)))
    return "\n".join(out)


def _runtime_grid(data, base: str | None) -> Grid:
    """Seconds per stage (2 decimals) and the overhead over the base's inference (×, 1 decimal)."""
    rows = tuple((str(r["generator"]), *(f"{r[s]:.2f}" for s in (*plots.STAGES, "total")),
                  f"×{r['overhead']:.1f}" if r["overhead"] == r["overhead"] else "—") for _, r in data.iterrows())
    header = ("generator", *(f"{s} [s]" for s in (*plots.STAGES, "total")),
              f"overhead (total / {base}'s inference)" if base else "overhead")
    return Grid(header, rows)


def build_html_report(run: RunData, *, title: str | None = None, by_category: bool = True,
                      pareto: tuple[str, str] | None = None, runtime_base: str | None = None,
                      max_cases: int = 12, gif_width: int = 128, galleries: bool = True, over: str = "cases") -> str:
    title = title or f"evalkit report — run {run.run_id}"
    res = run.results
    body = [f"<h1>{html_escape(title)}</h1>"]
    if run.status_note():
        body.append(f'<p class="note status">{html_escape(run.status_note())}</p>')
    body += ["<h2>Provenance</h2>", _provenance(run), "<h2>Results</h2>"]
    if res.empty:
        body.append(_note("the run has no results"))
    else:
        body.append(render_html(res, title=f"All cases (mean ± S.E.M. over {over}; best bold, second underlined)",
                                over=over))
        cats = [c for c in res["category"].dropna().unique() if c]
        if by_category and len(cats) > 1:
            body.append(render_html(res, by_category=True, title="By case category", over=over))
        failures = res[res["status"] == "failed"]
        if not failures.empty:
            f = failures.groupby(["generator", "metric", "error"]).size().reset_index(name="items")
            f = f.sort_values("items", ascending=False, kind="stable")
            body.append("<h3>Failures</h3>" + to_html(grid_of(f, keys=2)))
        if warned := protocol_warnings(run):
            body.append(f"<h3>Protocol warnings ({len(warned)}; the items are scored)</h3>"
                        + "".join(_note(warning_line(w)) for w in warned))
        body.append(build_leaderboard([run]).to_html())
        body.append("<h2>Plots</h2>" + _plots(run, pareto, runtime_base))
    if galleries:
        body.append("<h2>Per-case galleries</h2>" + _galleries(run, max_cases, gif_width))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html_escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
