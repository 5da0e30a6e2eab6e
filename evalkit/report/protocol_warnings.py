"""A run's protocol warnings (``evalkit.protocol``), read back from what the run stored: the
warnings a generator recorded about its output (generation extras, e.g. a submission's fps
outside ×0.5–×4 of its source's) and those of each metric value (details, e.g. a time alignment
that kept fewer than half the frames). The items are scored; these say what to check. Counted
in `evalkit run`'s summary, listed in results.json and the Markdown report."""
from __future__ import annotations

from typing import Any

from .definitions import parse_config
from .markup import bullet_list
from .rows import rows_of
from .sources import RunData


def protocol_warnings(run: RunData) -> list[dict[str, Any]]:
    """One entry per distinct warning: generator, case_id, seed, metric (None: the output
    itself), warning."""
    out: dict[tuple, dict[str, Any]] = {}
    extras = run.generation_extras()
    res = run.results
    has_details = "details" in res.columns
    for r in rows_of(res):
        generation_warnings = (extras.get(r.generation_key) or {}).get("warnings", [])
        found: list[tuple[str | None, Any]] = [(None, w) for w in generation_warnings]
        if has_details and r.status == "ok":
            details = parse_config(r.details, what=f"details of {r.case_id}/{r.metric}")
            found += [(r.metric, w) for w in details.get("warnings", [])]
        for metric, warning in found:
            key = (r.generator, r.case_id, int(r.seed), metric, warning)
            out.setdefault(key, dict(zip(("generator", "case_id", "seed", "metric", "warning"), key)))
    return sorted(out.values(), key=lambda w: (w["generator"], w["case_id"], w["seed"], w["metric"] or "",
                                               w["warning"]))


def warning_line(w: dict[str, Any]) -> str:
    where = f"{w['generator']} × {w['case_id']} (seed {w['seed']})" + (f", {w['metric']}" if w["metric"] else "")
    return f"{where}: {w['warning']}"


def warnings_markdown(run: RunData) -> str:
    """The report's list of protocol warnings ("" when there are none)."""
    found = protocol_warnings(run)
    lines = bullet_list(f"Protocol warnings ({len(found)}; the items are scored, check what they say):",
                        map(warning_line, found), bold=True)
    return "\n".join(lines) + "\n" if lines else ""
