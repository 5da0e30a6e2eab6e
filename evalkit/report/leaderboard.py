"""Leaderboard: generators of one or more runs ranked on a chosen metric set, with provenance.

Only entries measured on the same cases with the same metric definitions (metric_config,
which includes version, options and backend) are ranked together. The reference pool is the
group of mutually comparable entries with the most finished entries (then the largest; ties:
the first run given); every other entry is listed apart with the reason. Ranking: per metric
the rank by mean (direction from the spec, ties share the better rank), then the mean rank
over the chosen metrics. Entries whose run did
not finish (results missing: interrupted, killed, still running, a shard missing) are listed
after the complete ones, ranked among themselves, and every row carries its status and
completeness (``status``: ``complete``, or e.g. ``interrupted: 16 of 40 results``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import pandas as pd

from ..errors import EvalkitError
from ..run.outcome import INTERRUPTED, RUNNING
from .aggregate import aggregate, decimals_for, facts_for, item_key
from .definitions import Definition, checkpoint_of, config_key, parse_config
from .markup import grid_of, html_escape, markdown_escape, to_html, to_latex, to_markdown
from .sources import RunData
from .tables import format_cell, n_notes

WEIGHT_KEYS = ("backbone", "model", "weights", "checkpoint", "lora")
PROVENANCE = ("run", "evalkit", "commit", "weights", "seeds", "device", "status")


@dataclass(eq=False)  # identity: entries hold DataFrames
class Entry:
    run: RunData
    generator: str
    results: pd.DataFrame
    suffix: str = ""

    @property
    def key(self) -> str:
        return f"{self.run.run_id}/{self.generator}{self.suffix}"

    def items(self, metrics: Sequence[str]) -> frozenset:
        """(case, seed, metric) of every value that succeeded on the chosen metrics: entries are
        ranked together only when measured on exactly the same items."""
        ok = self.results[(self.results["status"] == "ok") & self.results["metric"].isin(list(metrics))]
        return frozenset(zip(item_key(ok), ok["metric"]))

    def definitions(self, metrics: Sequence[str]) -> dict[str, str]:
        out = {}
        for m in metrics:
            cfg = self.results.loc[self.results["metric"] == m, "metric_config"]
            out[m] = config_key(cfg.iloc[0]) if len(cfg) else ""
        return out

    @property
    def expected(self) -> int:
        """Result rows this entry's run asks of it: the run's expected rows shared by its plan's
        generators (a dataset has one case kind, so each gets the same share); the rows present
        when the run did not record it (an old baseline)."""
        total = self.run.info.get("expected")
        generators = len(self.run.plan.get("generators") or ()) or self.run.results["generator"].nunique()
        return max(len(self.results), int(total) // max(1, generators)) if total else len(self.results)

    @property
    def ok(self) -> int:
        return int((self.results["status"] == "ok").sum())

    @property
    def finished(self) -> bool:
        """Every result of the entry present (ok or failed) and its run not stopped midway."""
        done = int(self.results["status"].isin(["ok", "failed"]).sum())
        return done >= self.expected and self.run.status not in (RUNNING, INTERRUPTED)

    def status(self) -> str:
        """'complete', or the run's status with this entry's completeness: 'interrupted: 16 of
        40 results' (failed results count as not ok: 'partial: 38 of 40 results ok, 2 failed')."""
        run_status = self.run.effective_status()
        failed = int((self.results["status"] == "failed").sum())
        if self.finished and not failed and run_status in ("complete", "partial", "unknown"):
            return "complete"
        status = run_status if run_status not in ("complete", "unknown") else "partial"
        return f"{status}: {self.ok} of {self.expected} results ok" + (f", {failed} failed" if failed else "")

    def provenance(self) -> dict[str, str]:
        prov = self.run.provenance
        gcfg = parse_config(self.results["generator_config"].iloc[0], what=f"generator_config of {self.generator}") \
            if len(self.results) else {}
        weights = [f"{k}={v}" for k, v in sorted(gcfg.items()) if v and any(w in k for w in WEIGHT_KEYS)]
        backends = sorted({b for b in self.results["backend"].dropna() if b})
        weights += [f"{b}:{checkpoint_of(b)}" for b in backends]
        return {"run": self.run.run_id, "evalkit": str(prov.get("evalkit_version", "?")),
                "commit": str(prov.get("git_commit") or "?")[:12], "weights": "; ".join(weights) or "weight-free",
                "seeds": ",".join(map(str, prov.get("seeds") or sorted(set(self.results["seed"])))),
                "device": str(prov.get("device", "?")), "status": self.status()}


@dataclass
class Leaderboard:
    metrics: list[str]
    ranked: pd.DataFrame    # rank, generator, metric cells, mean_rank, provenance
    apart: pd.DataFrame     # generator, run, reason, provenance
    entries: list = field(default_factory=list)        # Entry of each ranked row, in row order
    numbers: pd.DataFrame = field(default_factory=pd.DataFrame)   # aggregate() rows of the ranked pool
    notes: tuple[str, ...] = ()   # one line per run that is not complete

    def to_markdown(self) -> str:
        out = ["## Leaderboard", "", markdown_escape(f"Ranked on: {', '.join(self.metrics)} (mean of per-metric ranks)."),
               ""]
        out += [f"- {markdown_escape(n)}" for n in self.notes] + ([""] if self.notes else [])
        out += [to_markdown(grid_of(self.ranked, keys=2, fmt=_cell)).rstrip("\n")]
        if not self.apart.empty:
            out += ["", "### Not ranked (not comparable with the leaderboard)", "",
                    to_markdown(grid_of(self.apart, keys=1, fmt=_cell)).rstrip("\n")]
        return "\n".join(out) + "\n"

    def to_latex(self, *, wide: bool = False) -> str:
        """The ranking with the provenance of each row in the caption (a paper's column has no room
        for commits and checkpoints)."""
        table = self.ranked.drop(columns=[c for c in PROVENANCE if c in self.ranked])
        fields = [c for c in PROVENANCE if c in self.ranked]
        shared = [c for c in fields if self.ranked[c].astype(str).nunique() == 1]
        prov = [("All rows: " + ", ".join(f"{c} {self.ranked[c].iloc[0]}" for c in shared))] if shared and len(
            self.ranked) else []
        prov += [f"{r['generator']}: " + ", ".join(f"{c} {r[c]}" for c in fields if c not in shared and str(r[c]))
                 for _, r in self.ranked.iterrows() if set(fields) - set(shared)]
        return to_latex(grid_of(table, keys=2, fmt=_cell, notes=self.notes + tuple(prov)), wide=wide,
                        caption=f"Leaderboard, ranked on {', '.join(self.metrics)} (mean of per-metric ranks).")

    def to_html(self) -> str:
        parts = ["<h2>Leaderboard</h2>", f"<p>Ranked on: {html_escape(', '.join(self.metrics))} "
                 "(mean of per-metric ranks).</p>"] + [f'<p class="note">{html_escape(n)}</p>' for n in self.notes]
        parts += [to_html(grid_of(self.ranked, keys=2, fmt=_cell))]
        if not self.apart.empty:
            parts += ["<h3>Not ranked (not comparable)</h3>", to_html(grid_of(self.apart, keys=1, fmt=_cell))]
        return "\n".join(parts)


def _cell(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def build_leaderboard(runs: Iterable[RunData], metrics: Sequence[str] | None = None) -> Leaderboard:
    unique: dict[tuple, RunData] = {}
    for r in runs:  # the same run given twice is one run
        unique.setdefault((r.origin, r.run_id), r)
    runs = list(unique.values())
    entries = [Entry(r, g, df) for r in runs for g, df in r.results.groupby("generator", sort=False)]
    seen: dict[str, int] = {}
    for e in entries:  # same plan in two stores -> same run id: keep entry keys distinct
        seen[e.key] = seen.get(e.key, 0) + 1
        if seen[e.key] > 1:
            e.suffix = f"#{seen[e.key]}"
    measured = list(dict.fromkeys(m for r in runs for m in r.results["metric"]))
    if metrics is None:
        metrics = measured
    metrics = list(metrics)
    if (unknown := [m for m in metrics if m not in measured]) or not metrics:
        raise EvalkitError(f"leaderboard: {', '.join(unknown) or 'no metric'} not measured by the "
                           f"run{'s' if len(runs) > 1 else ''} (columns: {', '.join(measured) or 'none'})")
    # comparable groups: same case set and same metric definitions
    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.items(metrics), tuple(sorted(e.definitions(metrics).items()))), []).append(e)
    # the group with the most finished entries (a killed run's entries never push complete ones
    # out of the ranking); then the largest; then the one measured on more items; then the first given
    ref_key = max(groups, key=lambda k: (sum(e.finished for e in groups[k]), len(groups[k]), len(k[0]),
                                         -entries.index(groups[k][0])))
    pool = groups[ref_key]
    ref_items, ref_defs = ref_key[0], dict(ref_key[1])
    apart_rows = []
    for e in entries:
        if e in pool:
            continue
        apart_rows.append({"generator": e.generator, "reason": _reason(e, metrics, ref_items, ref_defs, pool[0].run),
                           **e.provenance()})
    res = pd.concat([e.results.assign(generator=e.key) for e in pool], ignore_index=True)
    agg = aggregate(res[res["metric"].isin(metrics)])
    table = pd.DataFrame({"entry": [e.key for e in pool]}).set_index("entry")
    ranks = pd.DataFrame(index=table.index)
    for m in metrics:
        a = agg[agg["metric"] == m].set_index("generator")
        if a.empty:
            continue
        facts = facts_for(res[res["metric"] == m])[m]
        dec = decimals_for((a["mean"] * a["scale"]).tolist())
        table[facts.label] = [format_cell(a.loc[k, "mean"] * a.loc[k, "scale"], a.loc[k, "sem"] * a.loc[k, "scale"],
                                          dec, failed=int(a.loc[k, "n_failed"]), items=int(a.loc[k, "n_items"]),
                                          n=int(a.loc[k, "n"]))
                              if k in a.index else "—" for k in table.index]
        if facts.higher_is_better is not None:
            ranks[m] = a["mean"].reindex(table.index).round(9).rank(method="min",
                                                                     ascending=not facts.higher_is_better)
    table["mean rank"] = ranks.mean(axis=1).round(2) if not ranks.empty else math.nan
    prov = pd.DataFrame([e.provenance() for e in pool], index=table.index)
    table = table.join(prov)
    table.insert(0, "generator", [e.generator for e in pool])
    # complete entries first; entries of runs that did not finish after them, ranked among themselves
    unfinished = pd.Series([not e.finished for e in pool], index=table.index)
    table = table.assign(_unfinished=unfinished).sort_values(["_unfinished", "mean rank"], kind="stable")
    rank = table.groupby("_unfinished")["mean rank"].rank(method="min")
    rank[table["_unfinished"]] += int((~table["_unfinished"]).sum())
    table = table.drop(columns="_unfinished")
    table.insert(0, "rank", rank.astype("Int64"))
    by_key = {e.key: e for e in pool}
    ordered = [by_key[k] for k in table.index]
    ranked = table.reset_index(drop=True)
    apart = pd.DataFrame(apart_rows, columns=["generator", "reason", "run", "evalkit", "commit", "weights",
                                              "seeds", "device", "status"])
    notes = tuple(f"run {r.run_id}: {r.status_note(short=True)}" for r in runs if r.status_note(short=True))
    if any(not e.finished for e in pool) and any(e.finished for e in pool):
        notes += ("entries of runs that did not finish are ranked after the complete ones (their status says "
                  "how far they got)",)
    notes += tuple(n_notes(res[res["metric"].isin(metrics)], agg))
    return Leaderboard(metrics, ranked, apart, ordered, agg, notes)


def _reason(e: Entry, metrics: Sequence[str], ref_items: frozenset, ref_defs: dict, ref_run: RunData) -> str:
    reasons = []
    items = e.items(metrics)
    if items != ref_items:
        reasons.append(f"measured on {len(items)} items ({len(items & ref_items)} shared with the "
                       f"leaderboard's {len(ref_items)}; an item: case content × seed × metric that succeeded)")
        mine, ref = e.run.plan.get("dataset"), ref_run.plan.get("dataset")
        if isinstance(mine, dict) and isinstance(ref, dict) and mine != ref:
            reasons.append("dataset differs (" + ", ".join(f"{k}: {ref.get(k)!r} vs {mine.get(k)!r}" for k in
                                                           sorted(set(mine) | set(ref)) if mine.get(k) != ref.get(k))
                           + ")")
    defs = e.definitions(metrics)
    for m in metrics:
        if defs.get(m) != ref_defs.get(m):
            if not defs.get(m):
                reasons.append(f"{m} not measured")
            elif not ref_defs.get(m):
                reasons.append(f"{m} not measured by the leaderboard")
            else:
                changed = Definition.of(ref_defs[m]).changes(Definition.of(defs[m]))
                reasons.append(f"{m} definition differs ({', '.join(changed)})")
    return "; ".join(reasons) or "not comparable"
