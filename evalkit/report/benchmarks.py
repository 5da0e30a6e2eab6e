"""What a leaderboard page is about: a benchmark (a dataset and its options, not where its data
lives), named by the dataset's ``title`` with its options as chips; and the names of the
rows: a generator's label split into its name and option chips, with a qualifier telling
apart rows of one name from different runs (the run's date; never its id)."""
from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from .definitions import config_key
from .leaderboard import Entry
from .sources import RunData

CHIP_CHARS = 48   # a longer option value is shortened on its chip (the full value in its tooltip)


@dataclass(frozen=True)
class Benchmark:
    """What a run measures: its dataset and that dataset's options (not where the data lives)."""
    name: str
    options: str = ""   # config_key of the options: one benchmark per distinct value

    @property
    def title(self) -> str:
        dataset = _dataset(self.name)
        return getattr(dataset, "title", "") or self.name

    @property
    def description(self) -> str:
        return getattr(_dataset(self.name), "description", "")

    def chips(self) -> list[tuple[str, str]]:
        """(shown text, full text) per option."""
        opts = json.loads(self.options) if self.options else {}
        return [(shorten(f"{k}={_value(v)}"), f"{k}={_value(v)}") for k, v in sorted(opts.items())]

    @property
    def heading(self) -> str:
        """Plain text: 'Synthetic motion (num_frames=8, motions=translation, pan)'."""
        chips = ", ".join(shown for shown, _ in self.chips())
        return f"{self.title} ({chips})" if chips else self.title

    @property
    def slug(self) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "benchmark"
        return f"{base}-{hashlib.sha1(self.options.encode()).hexdigest()[:8]}" if self.options else base


def _dataset(name: str):
    """The registered dataset class; None for one this installation does not know (a baseline
    from elsewhere: named by its registry name)."""
    from ..registry import DATASETS, UnknownNameError

    try:
        return DATASETS.get(name)
    except UnknownNameError:
        return None


def benchmark_of(run: RunData) -> Benchmark:
    dataset = dict(run.plan.get("dataset") or {})
    name = dataset.pop("name", "") or "unknown dataset"
    dataset.pop("root", None)  # where the data lives is not what it is
    return Benchmark(name, json.dumps(json.loads(config_key(dataset)), sort_keys=True) if dataset else "")


def _value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(map(_value, v))
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


def shorten(text: str) -> str:
    return text if len(text) <= CHIP_CHARS else text[:CHIP_CHARS - 1] + "…"


# -- row names --------------------------------------------------------------------------------

def split_label(label: str) -> tuple[str, list[str]]:
    """'mbq[injection_fraction=0.6,seed=1]' -> ('mbq', ['injection_fraction=0.6', 'seed=1'])."""
    m = re.fullmatch(r"([^\[\]]+)\[(.*)\]", label.strip())
    if not m:
        return label, []
    parts, depth, cur = [], 0, ""
    for ch in m.group(2):   # commas inside brackets belong to a value
        depth += (ch in "[({") - (ch in "])}")
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return m.group(1), [p for p in parts + [cur.strip()] if p]


def run_date(run: RunData) -> str:
    stamp = run.info.get("created")
    if not stamp:
        return ""
    return datetime.datetime.fromtimestamp(float(stamp), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def row_names(entries: Sequence[Entry]) -> list[tuple[str, list[str], str]]:
    """Per entry: its name, its option chips and a qualifier telling apart rows of one name
    (the run's date; '#2' where the dates agree too)."""
    split = [split_label(e.generator) for e in entries]
    full = [e.generator for e in entries]
    quals = [""] * len(entries)
    for label in {f for f in full if full.count(f) > 1}:
        same = [i for i, f in enumerate(full) if f == label]
        dates = [run_date(entries[i].run) for i in same]
        for k, (i, date) in enumerate(zip(same, dates)):
            unique = date and dates.count(date) == 1
            quals[i] = f"run of {date}" if unique else f"run of {date}, #{k + 1}" if date else f"#{k + 1}"
    return [(name, chips, qual) for (name, chips), qual in zip(split, quals)]


def plain_names(entries: Sequence[Entry]) -> list[str]:
    """One distinct, short plain-text name per entry (plots): 'copy', 'copy (12-08 02:56)'."""
    short = [re.sub(r"run of \d{4}-(\d\d-\d\d \d\d:\d\d) UTC", r"\1", q) for _, _, q in row_names(entries)]
    return [e.generator + (f" ({q})" if q else "") for e, q in zip(entries, short)]
