"""Display names for papers: generators, metric columns and categories as a paper prints them.

From a ``--labels`` file (YAML or JSON) or the ``labels:`` entry of a run config (stored with
the run's plan, outside its run id), the file winning where both name one::

    generators: {"mbq[injection_fraction=0.6]": "Ours", vanilla: "Wan2.1"}
    metrics: {"motion-fidelity[klt]": "Motion Fidelity", identity-leakage: "Id. Leak"}
    categories: {subject: "Subject swap"}

A generator key is its label, or its registry name where one generator of that name is in the
run; a metric key is its column or its metric name. Two generators (or columns) displayed
under one name is an error: a table would merge them. Reports keep the ids in their footnotes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..errors import EvalkitError
from .definitions import parse_config

KINDS = ("generators", "metrics", "categories")


@dataclass(frozen=True)
class DisplayNames:
    generators: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Any, *, where: str = "labels") -> "DisplayNames":
        if data in (None, {}):
            return cls()
        if not isinstance(data, dict) or set(data) - set(KINDS):
            raise EvalkitError(f"{where}: expected a mapping with keys {', '.join(KINDS)}, got "
                               f"{sorted(data) if isinstance(data, dict) else type(data).__name__}")
        out = {}
        for kind in KINDS:
            names = data.get(kind) or {}
            if not isinstance(names, dict) or not all(isinstance(v, (str, int, float)) for v in names.values()):
                raise EvalkitError(f"{where}: {kind} must map ids to display names")
            out[kind] = {str(k): str(v) for k, v in names.items()}
        return cls(**out)

    @classmethod
    def read(cls, path: str | Path) -> "DisplayNames":
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise EvalkitError(f"{path}: unreadable labels file ({' '.join(str(exc).split())})") from None
        return cls.of(data, where=str(path))

    def __or__(self, other: "DisplayNames") -> "DisplayNames":
        return DisplayNames(*({**getattr(self, k), **getattr(other, k)} for k in KINDS))

    def __bool__(self) -> bool:
        return any(getattr(self, k) for k in KINDS)

    # -- applying them ----------------------------------------------------------------------
    def generator_names(self, frame: pd.DataFrame) -> dict[str, str]:
        """label -> display name for the generators of ``frame`` (rows with generator_config)."""
        if frame.empty:
            return {}
        labels = list(dict.fromkeys(frame["generator"]))
        registry = {g: parse_config(c).get("name", g) for g, c in
                    frame[["generator", "generator_config"]].drop_duplicates("generator").itertuples(index=False)} \
            if "generator_config" in frame else {g: g for g in labels}
        per_name = pd.Series(registry).value_counts()
        out = {}
        for g in labels:
            if g in self.generators:
                out[g] = self.generators[g]
            elif registry.get(g) in self.generators and per_name[registry[g]] == 1:
                out[g] = self.generators[registry[g]]
        return _unique(out, labels, "generators")

    def metric_names(self, frame: pd.DataFrame) -> dict[str, str]:
        """column -> display name."""
        if frame.empty:
            return {}
        pairs = frame[["metric", "metric_name"]].drop_duplicates("metric")
        per_name = pairs["metric_name"].value_counts()
        out = {}
        for col, name in pairs.itertuples(index=False):
            if col in self.metrics:
                out[col] = self.metrics[col]
            elif name in self.metrics and per_name[name] == 1:
                out[col] = self.metrics[name]
        return _unique(out, list(pairs["metric"]), "metrics")

    def apply(self, results: pd.DataFrame) -> pd.DataFrame:
        """Results with generators and categories renamed, the generators' ids kept in a
        ``generator_id`` column, and a ``metric_display`` column."""
        if not self or results.empty:
            return results
        out = results.copy()
        if "generator_id" not in out:
            out["generator_id"] = out["generator"]
        out["generator"] = out["generator"].replace(self.generator_names(results))
        if "category" in out and self.categories:
            out["category"] = out["category"].replace(self.categories)
        names = self.metric_names(results)
        out["metric_display"] = out["metric"].map(lambda c: names.get(c, ""))
        return out

    def apply_run(self, run):
        """A RunData whose results, generations and loads use the display names."""
        if not self:
            return run
        generators = self.generator_names(run.results)
        frames = {}
        for name in ("generations", "loads"):
            frame = getattr(run, name)
            if not frame.empty and "generator" in frame:
                frame = frame.assign(generator=frame["generator"].replace(generators))
                if "category" in frame and self.categories:
                    frame["category"] = frame["category"].replace(self.categories)
            frames[name] = frame
        return dataclasses.replace(run, results=self.apply(run.results), **frames)


def _unique(names: dict[str, str], ids: list[str], kind: str) -> dict[str, str]:
    shown: dict[str, str] = {}
    for i in ids:
        display = names.get(i, i)
        if display in shown:
            raise EvalkitError(f"labels: {kind} {shown[display]!r} and {i!r} would both be shown as {display!r}")
        shown[display] = i
    return names


def labels_of(run) -> DisplayNames:
    """The display names a run's plan carries (its config's ``labels:``)."""
    return DisplayNames.of(run.plan.get("labels"), where=f"run {run.run_id} labels")

