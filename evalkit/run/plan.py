"""Run plans: which dataset, generators, metrics and seeds; from a YAML config or CLI flags.

A component is written ``name`` or ``name[key=value,key=value]`` on the command line, or as
``{name: ..., key: value}`` in YAML. Values are parsed as YAML scalars (``steps=50`` is an int).

Defaults are resolved when the plan is loaded, so they are part of the plan and of its run
id: without ``--generators`` every weight-free generator that accepts the dataset's case
kind, without ``--metrics`` those of :data:`DEFAULT_METRICS` that score it. A generator or
metric that applies to none of the dataset's case kinds is an error before anything runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import EvalkitError
from ..hashing import stable_hash
from ..registry import DATASETS, GENERATORS, METRICS

# What `evalkit run SUITE` measures when no --metrics are given (those of them that score the
# suite's case kind): the weight-free metrics, so the default run needs no downloads.
DEFAULT_METRICS = ("temporal-flicker", "motion-fidelity[backend=klt]")


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, item: str | dict) -> "ComponentSpec":
        if isinstance(item, dict):
            item = dict(item)
            if "name" not in item:
                raise EvalkitError(f"component {item} has no 'name'")
            name = str(item.pop("name"))
            if isinstance(item.get("options"), dict):   # {name, options: {...}}: an option may be called name
                item = {**item.pop("options"), **item}
            return cls(name, item)
        if not isinstance(item, str):
            raise EvalkitError(f"component {item!r}: expected name, name[key=value,...] or a mapping with a name")
        m = re.fullmatch(r"\s*([a-z0-9.\-]+)\s*(?:\[(.*)\])?\s*", item, flags=re.S)
        if not m:
            raise EvalkitError(f"cannot parse component {_short(item)!r}; expected name or name[key=value,...]")
        options: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in (m.group(2) or "").split(","))):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise EvalkitError(f"option {_short(part)!r} of {m.group(1)!r} is not key=value")
            try:
                options[key] = yaml.safe_load(value.strip())
            except yaml.YAMLError:
                options[key] = value.strip()   # not a YAML scalar: the plugin's option check decides
        return cls(m.group(1), options)

    def to_dict(self) -> dict[str, Any]:
        if "name" in self.options:   # e.g. videos[name=LABEL]: flat, the option would replace the plugin's name
            return {"name": self.name, "options": dict(self.options)}
        return {"name": self.name, **self.options}


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def split_components(text: str) -> list[str]:
    """Split ``a,b[x=1,y=2],c`` on the commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def expand_sweep(item: str | dict) -> list[ComponentSpec]:
    """``{name: mbq, sweep: {injection_fraction: [0, 0.2, 0.4]}}`` → one component per value
    (the cartesian product over several swept options); anything else → itself."""
    if not (isinstance(item, dict) and "sweep" in item):
        return [ComponentSpec.parse(item)]
    item = dict(item)
    sweep = item.pop("sweep")
    if not isinstance(sweep, dict) or not sweep or not all(isinstance(v, list) and v for v in sweep.values()):
        raise EvalkitError(f"{item.get('name')}: 'sweep' must map option names to non-empty lists of values")
    import itertools

    keys = sorted(sweep)
    return [ComponentSpec.parse({**item, **dict(zip(keys, combo))})
            for combo in itertools.product(*(sweep[k] for k in keys))]


@dataclass(frozen=True)
class Plan:
    dataset: ComponentSpec
    generators: tuple[ComponentSpec, ...]
    metrics: tuple[ComponentSpec, ...]
    seeds: tuple[int, ...] = (0,)
    limit: int | None = None  # first N cases (smoke runs)
    #: the first N cases of each case category (a paper table's --limit: every column group keeps cases)
    limit_per_category: int | None = None
    #: display names for reports (a run config's ``labels:``); stored with the plan, not in its run id
    labels: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = {"dataset": self.dataset.to_dict(), "generators": [g.to_dict() for g in self.generators],
               "metrics": [m.to_dict() for m in self.metrics], "seeds": list(self.seeds), "limit": self.limit}
        if self.limit_per_category is not None:   # only when set: the run ids of other plans stay as they were
            out["limit_per_category"] = self.limit_per_category
        return {**out, "labels": self.labels} if self.labels else out

    @property
    def run_id(self) -> str:
        """Same plan → same run id, so re-running a command resumes its run (display names aside)."""
        return stable_hash({k: v for k, v in self.to_dict().items() if k != "labels"}, length=12)


def load_plan(suite_or_config: str, *, generators: list[str] | None = None, metrics: list[str] | None = None,
              seeds: Any = None, root: str | None = None, limit: Any = None) -> Plan:
    """A plan from a YAML config file or a dataset name; CLI flags override the config. Every
    value is checked here, before anything runs (one EvalkitError naming what is wrong)."""
    return plan_from_config(_read_config(suite_or_config), generators=generators, metrics=metrics, seeds=seeds,
                            root=root, limit=limit)


def plan_from_config(cfg: dict[str, Any], *, generators: list[str] | None = None, metrics: list[str] | None = None,
                     seeds: Any = None, root: str | None = None, limit: Any = None) -> Plan:
    """The plan of a run config's mapping (what :func:`load_plan` reads from a file), checked the
    same way: a plan built in code (``evalkit reproduce TABLE``) and its YAML are one plan."""
    dataset = ComponentSpec.parse(cfg["dataset"])
    if root:
        dataset = ComponentSpec(dataset.name, {**dataset.options, "root": root})
    kind = dataset_case_kind(dataset.name)
    for what, given in (("--generators", generators), ("--metrics", metrics)):
        if given is not None and not given:   # `-g ',,'`, `-m ''`: never silently the defaults
            raise EvalkitError(f"{what}: no component given (leave the option out for the defaults)")
    gens = [g for item in (generators or _items(cfg.get("generators"), "generators")) for g in expand_sweep(item)]
    mets = [ComponentSpec.parse(m) for m in (metrics or _items(cfg.get("metrics"), "metrics"))]
    plan = Plan(_checked(dataset, DATASETS, skip=("root",)),
                tuple(_checked(g, GENERATORS) for g in gens or default_generators(kind)),
                tuple(_checked(m, METRICS, skip=("backend",)) for m in mets or default_metrics(kind)),
                parse_seeds(seeds if seeds is not None else cfg.get("seeds", 0)),
                parse_limit(limit if limit is not None else cfg.get("limit")),
                limit_per_category=parse_limit(cfg.get("limit_per_category"), "limit_per_category"),
                labels=_labels(cfg.get("labels")))
    check_plan(plan)
    return plan


PLAN_KEYS = ("dataset", "generators", "metrics", "seeds", "limit", "limit_per_category", "labels")


def _read_config(suite_or_config: str) -> dict[str, Any]:
    """A run config file's mapping, or {'dataset': suite} for a dataset name."""
    path = Path(suite_or_config)
    try:
        is_file = path.is_file()
    except OSError:   # e.g. a dataset spec longer than a file name may be
        is_file = False
    if not (path.suffix in (".yaml", ".yml", ".json") or is_file):
        return {"dataset": suite_or_config}
    if not is_file:
        raise EvalkitError(f"{path}: run config not found")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise EvalkitError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if isinstance(cfg, dict) and "dataset" not in cfg and "kind" in cfg:
        return {"dataset": _manifest_dataset(path, cfg["kind"])}
    if not isinstance(cfg, dict) or "dataset" not in cfg:
        raise EvalkitError(f"{path}: a run config needs a 'dataset' entry (and usually generators, metrics); "
                           f"a dataset manifest (with 'kind') is run as DATASET[manifest={path}]")
    unknown = set(cfg) - set(PLAN_KEYS)
    if unknown:
        raise EvalkitError(f"{path}: unknown keys {sorted(unknown)} (keys: {', '.join(PLAN_KEYS)})")
    return cfg


def _manifest_dataset(path: Path, kind: Any) -> dict[str, Any]:
    """A dataset manifest given where a run config was expected: the dataset its ``kind`` names,
    reading it (``evalkit run m.yaml`` = ``evalkit run KIND[manifest=m.yaml]``)."""
    from ..data.manifest import dataset_for_kind

    return {"name": dataset_for_kind(kind, path).registry_name, "manifest": str(path)}


def _items(value: Any, what: str) -> list:
    """A config's generators / metrics: a list, or one string of comma-separated components
    (``generators: copy`` is the generator copy, not the letters c, o, p, y)."""
    if value is None:
        return []
    if isinstance(value, str):
        if not (parts := split_components(value)):
            raise EvalkitError(f"{what}: {value!r} names no component (leave the key out for the defaults)")
        return parts
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        if not value:
            raise EvalkitError(f"{what}: an empty list (leave the key out for the defaults)")
        return value
    raise EvalkitError(f"{what}: expected a list of components or a comma-separated string, got {value!r}")


def _checked(spec: ComponentSpec, registry, skip: tuple[str, ...] = ()) -> ComponentSpec:
    """The component with its options validated and converted by the plugin (Configurable)."""
    cls = registry.get(spec.name)
    own = {k: v for k, v in spec.options.items() if k not in skip}
    if "backend" in skip and spec.options.get("backend") is not None:
        backends = cls.spec.backends
        if spec.options["backend"] not in backends:
            raise EvalkitError(f"{spec.name}: backend {spec.options['backend']!r} not in {backends or '(none)'}")
    return ComponentSpec(spec.name, {**spec.options, **cls.checked_options(own)})


def _labels(value: Any) -> dict[str, Any]:
    """A config's ``labels:`` (display names, see evalkit.report.labels): kind -> {id: name}."""
    if value is None:
        return {}
    kinds = ("generators", "metrics", "categories")
    if not isinstance(value, dict) or set(value) - set(kinds) or not all(
            isinstance(v, dict) and all(isinstance(n, (str, int, float)) for n in v.values()) for v in value.values()):
        raise EvalkitError(f"labels: expected {{{', '.join(f'{k}: {{id: name}}' for k in kinds)}}}")
    return {k: {str(i): str(n) for i, n in v.items()} for k, v in value.items()}


def parse_seeds(value: Any) -> tuple[int, ...]:
    """Seeds from a list, an int, or text separated by ',' or '+' (``0,1,2``): distinct integers ≥ 0."""
    items = value if isinstance(value, (list, tuple)) else str(value).replace("+", ",").split(",")
    seeds = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, bool) or not re.fullmatch(r"\d{1,18}", text):
            raise EvalkitError(f"seeds: {text!r} is not an integer ≥ 0 (write e.g. 0,1,2)")
        seeds.append(int(text))
    if not seeds:
        raise EvalkitError("seeds: none given (write e.g. 0,1,2)")
    if len(set(seeds)) != len(seeds):
        raise EvalkitError(f"seeds: {', '.join(map(str, seeds))} repeat a seed")
    return tuple(seeds)


def parse_limit(value: Any, what: str = "limit") -> int | None:
    """The first N cases (N ≥ 1), or None for all."""
    if value is None:
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"\d{1,12}", text) or int(text) < 1:
        raise EvalkitError(f"{what}: {value!r} must be a whole number of cases ≥ 1")
    return int(text)


def dataset_case_kind(name: str) -> str:
    """The case kind a registered dataset produces, without loading any data."""
    kind = getattr(DATASETS.get(name), "case_kind", None)
    if not isinstance(kind, str):
        raise EvalkitError(f"dataset {name!r} declares no case_kind")
    return kind


def default_generators(kind: str) -> list[ComponentSpec]:
    """Every registered weight-free (reference) generator that accepts ``kind`` cases, by name."""
    names = [n for n, cls in GENERATORS.items() if cls.weight_free and kind in cls.case_kinds]
    if not names:
        raise EvalkitError(f"no weight-free generator accepts {kind} cases; pass --generators")
    return [ComponentSpec(n) for n in names]


def default_metrics(kind: str) -> list[ComponentSpec]:
    """The default metrics that score ``kind`` cases."""
    specs = [ComponentSpec.parse(m) for m in DEFAULT_METRICS]
    specs = [m for m in specs if kind in METRICS.get(m.name).spec.case_kinds]
    if not specs:
        raise EvalkitError(f"none of the default metrics ({', '.join(DEFAULT_METRICS)}) scores {kind} cases; "
                           f"pass --metrics")
    return specs


def check_plan(plan: Plan) -> None:
    """Every generator and metric must apply to the dataset's case kind: a mismatch would
    otherwise run nothing for that pair and look like an empty result."""
    kind = dataset_case_kind(plan.dataset.name)
    if not plan.generators:
        raise EvalkitError("the plan names no generators")
    problems = [f"generator {g.name!r} accepts {'/'.join(kinds)} cases" for g in plan.generators
                if kind not in (kinds := tuple(GENERATORS.get(g.name).case_kinds))]
    problems += [f"metric {m.name!r} scores {'/'.join(kinds)} cases" for m in plan.metrics
                 if kind not in (kinds := tuple(METRICS.get(m.name).spec.case_kinds))]
    if problems:
        raise EvalkitError(f"{'; '.join(problems)}; dataset {plan.dataset.name!r} has {kind} cases "
                           f"(`evalkit list generators` / `evalkit list metrics` show the case kinds of each)")
