"""Report plots (matplotlib Agg, PNG bytes): identity–motion trade-off, Pareto scatter, a metric
group's bars (leaderboard site), runtime.

Every function returns PNG bytes (embedded in the HTML report, or written with ``--plots``).
Directions, scales and boolean-ness come from the metric specs (aggregate.facts_for), axis
names from the display names where given (evalkit.report.labels). Every plot names its error
bars (± S.E.M. and over what), never comes out empty (an EvalkitError says why instead), and
labels its points without collisions (evalkit.report.placement).
"""
from __future__ import annotations

import io
import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import EvalkitError
from .aggregate import aggregate, facts_for, sem
from .definitions import config_option
from .escape import plot_escape
from .placement import place_labels

STAGES = ("inversion", "optimization", "inference")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


# -- identity–motion trade-off (Motion by Queries Fig. 2) ---------------------------------------

def tradeoff_data(results: pd.DataFrame, columns: Sequence[str], *, x_option: str = "injection_fraction",
                  split: str = "category", extras: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """mean ± sem over cases per (x, split, column), with x read from generator_config[x_option].

    Where the config leaves the option to the generator (None: "backbone default"), the value the
    generator reported in its generation extras is used (``extras``: generation_key -> extras).
    """
    df = results[(results["status"] == "ok") & results["metric"].isin(columns)].copy()
    df["x"] = df["generator_config"].map(lambda c: config_option(c, x_option))
    if extras:
        missing = df["x"].isna()
        df.loc[missing, "x"] = df.loc[missing, "generation_key"].map(
            lambda k: (extras.get(k) or {}).get(x_option))
    df = df[df["x"].notna()]
    if df.empty:
        return pd.DataFrame(columns=["method", "x", split, "metric", "mean", "sem", "n", "scale"])
    df["x"] = df["x"].astype(float)
    # one curve per method (the generator's registry name) and category: a sweep stores one
    # generator entry per fraction, all with the same registry name in their config
    df["method"] = [config_option(c, "name") or g for c, g in zip(df["generator_config"], df["generator"])]
    agg = aggregate(df, by=("method", "x", split))
    out = pd.DataFrame({"method": agg["method"], "x": agg["x"].astype(float), split: agg[split],
                        "metric": agg["metric"], "mean": agg["mean"] * agg["scale"],
                        "sem": agg["sem"] * agg["scale"], "n": agg["n"], "scale": agg["scale"]})
    return out.sort_values(["method", "x", split, "metric"], kind="stable").reset_index(drop=True)


def tradeoff_plot(results: pd.DataFrame, columns: Sequence[str], *, x_option: str = "injection_fraction",
                  split: str = "category", title: str | None = None,
                  extras: Mapping[str, Mapping] | None = None) -> bytes:
    """One panel per metric column against the injection fraction, a line per category."""
    data = tradeoff_data(results, columns, x_option=x_option, split=split, extras=extras)
    if data.empty:
        raise EvalkitError(f"trade-off plot: no results with generator option {x_option!r} for {list(columns)}")
    plt = _pyplot()
    facts = facts_for(results)
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.4), squeeze=False)
    for ax, col in zip(axes[0], columns):
        d = data[data["metric"] == col]
        several = d["method"].nunique() > 1
        for (method, grp), g in d.groupby(["method", split], sort=True):
            label = (f"{method} · " if several else "") + (str(grp) or "all")
            ax.errorbar(g["x"], g["mean"], yerr=g["sem"], marker="o", capsize=3, label=plot_escape(label))
        ax.set_xlabel(x_option.replace("_", " "))
        ax.set_ylabel(plot_escape(facts[col].label))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(plot_escape(title or "Identity–motion trade-off") + "\n" + sem_caption(data["n"], "cases"),
                 fontsize=11)
    return _png(fig)


# -- two metrics, every generator, Pareto front ------------------------------------------------

def pareto_front(points: pd.DataFrame, x_higher_better: bool, y_higher_better: bool) -> list[int]:
    """Indices of points not dominated by any other (better or equal on both, better on one)."""
    xs = points["x"].to_numpy(float) * (1 if x_higher_better else -1)
    ys = points["y"].to_numpy(float) * (1 if y_higher_better else -1)
    front = []
    for i in range(len(xs)):
        dominated = np.any((xs >= xs[i]) & (ys >= ys[i]) & ((xs > xs[i]) | (ys > ys[i])))
        if not dominated:
            front.append(points.index[i])
    return front


def pareto_data(results: pd.DataFrame, x_col: str, y_col: str) -> tuple[pd.DataFrame, list]:
    """Per generator: x, y (scaled means), their S.E.M. and n; and the Pareto front's generators."""
    missing = [c for c in (x_col, y_col) if c not in set(results["metric"])]
    if missing:
        raise EvalkitError(f"Pareto plot: column(s) {missing} not in the results")
    agg = aggregate(results[results["metric"].isin([x_col, y_col])])
    piv = agg.pivot(index="generator", columns="metric", values=["mean", "sem", "scale", "n"])
    pts = pd.DataFrame({
        "x": piv[("mean", x_col)] * piv[("scale", x_col)], "xerr": piv[("sem", x_col)] * piv[("scale", x_col)],
        "y": piv[("mean", y_col)] * piv[("scale", y_col)], "yerr": piv[("sem", y_col)] * piv[("scale", y_col)],
        "n": piv[[("n", x_col), ("n", y_col)]].min(axis=1),
    }).dropna(subset=["x", "y"])
    if pts.empty:
        raise EvalkitError(f"Pareto plot: no generator has values of both {x_col} and {y_col}")
    facts = facts_for(results)
    fx, fy = facts[x_col], facts[y_col]
    if fx.higher_is_better is None or fy.higher_is_better is None:
        return pts, []
    return pts, pareto_front(pts, fx.higher_is_better, fy.higher_is_better)


def pareto_figure(results: pd.DataFrame, x_col: str, y_col: str, *, title: str | None = None,
                  size: tuple[float, float] = (5.2, 4.2)):
    """The Pareto scatter as a matplotlib figure (labels placed without collisions)."""
    pts, front = pareto_data(results, x_col, y_col)
    facts = facts_for(results)
    fx, fy = facts[x_col], facts[y_col]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=size)
    ax.errorbar(pts["x"], pts["y"], xerr=pts["xerr"], yerr=pts["yerr"], fmt="o", capsize=3, color="tab:blue",
                label="mean ± S.E.M.")
    if front:
        f = pts.loc[front].sort_values("x")
        ax.plot(f["x"], f["y"], "--", color="tab:red", label="Pareto front")
    ax.legend(fontsize=8)
    ax.set_xlabel(plot_escape(fx.label))
    ax.set_ylabel(plot_escape(fy.label))
    ax.grid(alpha=0.3)
    ax.margins(0.15)
    ax.set_title(plot_escape(title or f"{fy.name} vs {fx.name}") + "\n" + sem_caption(pts["n"], "cases"),
                 fontsize=10)
    place_labels(ax, pts["x"].tolist(), pts["y"].tolist(), [plot_escape(g) for g in pts.index])
    return fig


def pareto_plot(results: pd.DataFrame, x_col: str, y_col: str, *, title: str | None = None,
                size: tuple[float, float] = (5.2, 4.2)) -> bytes:
    return _png(pareto_figure(results, x_col, y_col, title=title, size=size))


# -- one metric group, every entry (leaderboard site) -------------------------------------------

def group_bars_plot(points: pd.DataFrame, facts: Sequence, *, title: str, hatched: Iterable[str] = ()) -> bytes:
    """One panel per metric column of a group (``facts``: ColumnFacts): a horizontal bar per
    entry, mean ± S.E.M. (scaled), entries in the order of ``points`` (best first, top down);
    entries in ``hatched`` (runs that did not finish) hatched. ``points``: label, column, mean,
    sem, n (scaled values)."""
    if points.empty:
        raise EvalkitError(f"{title}: no values to plot")
    plt = _pyplot()
    labels = list(dict.fromkeys(points["label"]))
    hatched = set(hatched)
    fig, axes = plt.subplots(1, len(facts), figsize=(3.6 * len(facts) + 1.6, max(2.6, 0.34 * len(labels) + 1.7)),
                             squeeze=False, sharey=True, layout="constrained")   # room for the two-line title
    ys = np.arange(len(labels))
    for ax, f in zip(axes[0], facts):
        d = points[points["column"] == f.column].set_index("label").reindex(labels)
        bars = ax.barh(ys, d["mean"].fillna(0), xerr=d["sem"].fillna(0), color="tab:blue", alpha=0.8,
                       error_kw={"capsize": 2, "lw": 0.8})
        for bar, label in zip(bars, labels):
            if label in hatched:
                bar.set_hatch("///")
                bar.set_alpha(0.45)
        ax.axvline(0, color="0.4", lw=0.6)
        ax.set_xlabel(plot_escape(f.label), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0][0].set_yticks(ys, [plot_escape(lab) + (" *" if lab in hatched else "") for lab in labels])
    axes[0][0].invert_yaxis()   # best on top, as in the table
    note = "; * hatched: run did not finish" if hatched & set(labels) else ""
    fig.suptitle(plot_escape(title) + "\n" + sem_caption(points["n"], "cases") + note, fontsize=10)
    return _png(fig)


# -- runtime breakdown (Motion by Queries Table 2) ---------------------------------------------

def runtime_data(generations: pd.DataFrame, base: str | None = None) -> pd.DataFrame:
    """Mean seconds per stage and generator, total (with its S.E.M. and n), and overhead =
    total / base's inference."""
    g = generations[generations["status"] == "ok"]
    if g.empty:
        return pd.DataFrame(columns=["generator", *STAGES, "total", "total_sem", "n", "overhead"])
    grouped = g.groupby("generator", sort=False)
    per = grouped[list(STAGES) + ["total"]].mean()
    per["total_sem"] = grouped["total"].agg(lambda v: sem(v.to_numpy(float)))
    per["n"] = grouped.size()
    base_inf = per.loc[base, "inference"] if base is not None and base in per.index else math.nan
    per["overhead"] = per["total"] / base_inf if base_inf and base_inf == base_inf else math.nan
    return per.reset_index()


def runtime_plot(generations: pd.DataFrame, *, base: str | None = None, title: str | None = None) -> bytes:
    """Stacked seconds per stage and generator, ± S.E.M. of the total; never an empty plot."""
    data = runtime_data(generations, base)
    if data.empty:
        raise EvalkitError("runtime plot: no successful generations")
    if not (data["total"] > 0).any():
        raise EvalkitError("runtime plot: every generation took 0 s (weight-free reference generators record "
                           "no stage timings)")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(data) + 2), 3.6))
    bottom = np.zeros(len(data))
    xs = np.arange(len(data))
    for stage in STAGES:
        if (data[stage] > 0).any():
            ax.bar(xs, data[stage], bottom=bottom, label=stage)
        bottom += data[stage].to_numpy(float)
    ax.errorbar(xs, data["total"], yerr=data["total_sem"].fillna(0), fmt="none", ecolor="black", capsize=3,
                label="total ± S.E.M.")
    for i, r in data.iterrows():
        if r["overhead"] == r["overhead"]:
            ax.annotate(f"×{r['overhead']:.2g}", (i, r["total"] + (r["total_sem"] or 0)), ha="center",
                        va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(xs, [plot_escape(g) for g in data["generator"]], rotation=20 if len(data) > 4 else 0,
                  ha="right" if len(data) > 4 else "center")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("seconds per video")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(plot_escape(title or ("Runtime breakdown" + (f" (overhead over {base}'s inference)" if base else "")))
                 + "\n" + sem_caption(data["n"], "videos"), fontsize=10)
    return _png(fig)


# -- per-subject training (V-Warper's coarse stage) ---------------------------------------------

def training_curve_data(extras: Mapping[str, Mapping]) -> dict[str, list]:
    """Loss curves that generators recorded for what they trained (``extras["lora"]["loss_curve"]``:
    ``[[step, loss], ...]``), one per training run (its cache key), whichever generation reused it."""
    curves: dict[str, list] = {}
    for ex in extras.values():
        lora = (ex or {}).get("lora") or {}
        if lora.get("loss_curve"):
            curves.setdefault(str(lora.get("key") or lora.get("path")), lora["loss_curve"])
    return curves


def training_curves_plot(extras: Mapping[str, Mapping]) -> bytes:
    curves = training_curve_data(extras)
    if not curves:
        raise EvalkitError("training curves: no generation recorded a loss curve")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for label, points in curves.items():
        steps, losses = zip(*points)
        ax.plot(steps, losses, lw=1.2, label=label[:12])
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (bucket mean)")
    ax.legend(fontsize=7, title="training key", title_fontsize=7)
    ax.set_title("Per-subject training (LoRA + subject token)")
    return _png(fig)


def sem_caption(ns, unit: str) -> str:
    """What every plot's error bars are: '± 1 S.E.M. over 30 cases'."""
    ns = sorted({int(n) for n in ns if n == n and n > 0})
    count = "" if not ns else f" over {ns[0]} {unit}" if len(ns) == 1 else f" over {ns[0]}–{ns[-1]} {unit}"
    return f"error bars: ± 1 S.E.M. (standard error of the mean){count}"


def numeric_columns(results: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(results.loc[results["status"] == "ok", "metric"]))


def default_pair(results: pd.DataFrame, preferred: Iterable[str] = ("motion-fidelity", "identity-leakage")) -> \
        tuple[str, str] | None:
    """Two columns to scatter: the motion and identity metrics when measured, else the first two."""
    cols = numeric_columns(results)
    names = dict(results[["metric", "metric_name"]].drop_duplicates("metric").itertuples(index=False))
    found = [next((c for c in cols if names[c] == p), None) for p in preferred]
    chosen = [c for c in found if c]
    for c in cols:
        if len(chosen) >= 2:
            break
        if c not in chosen:
            chosen.append(c)
    return (chosen[0], chosen[1]) if len(chosen) >= 2 else None
