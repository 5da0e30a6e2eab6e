"""Report-test fixtures: fake metrics registered for one test only, and a ResultsStore filled
directly (no runner). Test files get the helpers through fixtures (``fill``, ``make_video``,
``artifact``), never by importing this module."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from evalkit.metrics.base import Metric, MetricSpec
from evalkit.registry import FEATURES, METRICS
from evalkit.run.store import ResultsStore


def _metric(name: str, **spec) -> type:
    cls = type(name.replace("-", "_"), (Metric,), {
        "spec": MetricSpec(name=name, case_kinds=("motion-transfer",), reference=f"test {name}",
                           **spec)})
    cls.registry_name = name
    return cls


FAKE_METRICS = {
    "fake-fidelity": _metric("fake-fidelity", higher_is_better=True, value_range=(-1, 1),
                             backends=("fake-klt",)),
    "fake-leak": _metric("fake-leak", higher_is_better=False, value_range=(0, 1), report_scale=100.0),
    "fake-dynamic": _metric("fake-dynamic", higher_is_better=True, value_range=(0, 1), boolean=True),
}


class _FakeBackend:
    weights_id = "org/fake-checkpoint"


def moving_video(gen: str, case_id: str, frames: int = 10) -> np.ndarray:
    """A bright square moving right over a textured background (static / reversed by generator)."""
    rng = np.random.default_rng(sum(map(ord, case_id)))
    bg = rng.integers(0, 60, (24, 32, 3), dtype=np.uint8)
    out = np.repeat(bg[None], frames, axis=0)
    for t in range(frames):
        x = 2 + 2 * (0 if gen == "static" else (frames - 1 - t if gen == "reverse" else t))
        out[t, 8:16, x:x + 6] = 230
    return out


def write_artifact(path: Path, frames: np.ndarray) -> None:
    """The runner's artifact layout: frames_<i>, fps_<i> per video."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, frames_0=frames, fps_0=np.float64(8.0), origin_0=np.str_(str(path)))


def fill_store(store: ResultsStore, run_id: str, values: dict, *, seeds=(0,), fail: set = frozenset(),
               categories: dict | None = None, generator_configs: dict | None = None,
               timings: Callable | None = None, metric_configs: dict | None = None,
               plan: dict | None = None, provenance: dict | None = None,
               artifacts: bool = False, case_hashes: dict | None = None) -> None:
    """values: {(generator, column): {case_id: value or [value per seed]}}.

    Column "fake-fidelity[fake-klt]" -> metric fake-fidelity, backend fake-klt.
    fail: {(generator, column, case_id)} recorded as metric failures.
    """
    store.start_run(run_id, plan or {"dataset": {"name": "synthetic"}},
                    provenance or {"evalkit_version": "0.1.0", "git_commit": "abc123", "device": "cpu",
                                   "seeds": list(seeds)})
    generated = set()
    for (gen, col), per_case in values.items():
        name, _, backend = col.partition("[")
        backend = backend.rstrip("]") or None
        mcfg = (metric_configs or {}).get(col) or {"name": name, "version": "1", "backend": backend}
        gcfg = (generator_configs or {}).get(gen, {"name": gen, "version": "1"})
        for case_id, vals in per_case.items():
            vals = vals if isinstance(vals, (list, tuple)) else [vals] * len(seeds)
            cat = (categories or {}).get(case_id, "")
            for seed, v in zip(seeds, vals):
                gkey = f"g-{gen}-{json.dumps(gcfg, sort_keys=True)}-{case_id}-{seed}"
                if gkey not in generated:
                    art = ""
                    if artifacts:
                        art = f"artifacts/{gen}-{case_id}-{seed}.npz"
                        write_artifact(store.root / art, moving_video(gen, case_id))
                    t = timings(gen, case_id, seed) if timings else (0.0, 0.0, 0.01)
                    store.put_generation(gkey, case_id=case_id, generator=gen, seed=seed, status="ok",
                                         artifact=art, timings=t, peak_memory_bytes=0)
                    store.add_run_item(run_id, case_id, "motion-transfer", cat, gen, seed, gkey,
                                       (case_hashes or {}).get(case_id, f"h-{case_id}"))
                    generated.add(gkey)
                mkey = f"m-{gkey}-{json.dumps(mcfg, sort_keys=True)}-{run_id}"
                failed = (gen, col, case_id) in fail
                store.put_metric(mkey, status="failed" if failed else "ok",
                                 value=None if failed else float(v),
                                 error="boom: tracker lost all points" if failed else "",
                                 result_row={"run_id": run_id, "case_id": case_id,
                                             "case_kind": "motion-transfer", "category": cat,
                                             "case_hash": (case_hashes or {}).get(case_id, f"h-{case_id}"),
                                             "generator": gen, "generator_config": json.dumps(gcfg),
                                             "seed": seed, "metric": col, "metric_name": name,
                                             "backend": backend or "", "metric_config": json.dumps(mcfg),
                                             "generation_key": gkey, "metric_key": mkey})
    store.finish_run(run_id)


@pytest.fixture
def fake_metrics(monkeypatch):
    """Register the fake metrics (and a fake backend) only for this test."""
    METRICS._discover()
    FEATURES._discover()
    for name, cls in FAKE_METRICS.items():
        monkeypatch.setitem(METRICS._entries, name, cls)
    monkeypatch.setitem(FEATURES._entries, "fake-klt", _FakeBackend)
    return FAKE_METRICS


@pytest.fixture
def small_run(tmp_path, fake_metrics):
    """Three generators × three cases × three columns, one failure; returns (store, run_id)."""
    store = ResultsStore(tmp_path / "out")
    cases = ["c0", "c1", "c2"]
    vals = {
        ("copy", "fake-fidelity[fake-klt]"): dict(zip(cases, [0.9, 0.8, 0.7])),
        ("static", "fake-fidelity[fake-klt]"): dict(zip(cases, [0.1, 0.2, 0.3])),
        ("noise", "fake-fidelity[fake-klt]"): dict(zip(cases, [0.0, 0.1, -0.1])),
        ("copy", "fake-leak"): dict(zip(cases, [0.5, 0.6, 0.7])),
        ("static", "fake-leak"): dict(zip(cases, [0.2, 0.3, 0.4])),
        ("noise", "fake-leak"): dict(zip(cases, [0.1, 0.1, 0.1])),
        ("copy", "fake-dynamic"): dict(zip(cases, [1, 1, 0])),
        ("static", "fake-dynamic"): dict(zip(cases, [0, 0, 0])),
        ("noise", "fake-dynamic"): dict(zip(cases, [1, 1, 1])),
    }
    fill_store(store, "run-a", vals, fail={("noise", "fake-fidelity[fake-klt]", "c2")},
               categories={"c0": "Caption", "c1": "Subject", "c2": "Scene"})
    return store, "run-a"


@pytest.fixture
def fill():
    """fill(store, run_id, values, **options): write results rows without the runner."""
    return fill_store


@pytest.fixture
def make_video():
    return moving_video


@pytest.fixture
def artifact():
    return write_artifact
