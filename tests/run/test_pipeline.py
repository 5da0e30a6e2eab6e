"""The pipelined runner: a source rendered once per case for every generator and metric,
reference generations stored as indices into one copy of their source (and read back, by the
runner and by reports, as the same frames), source features shared by shards through disk."""
from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.run.artifacts import load_videos
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan
from evalkit.run.store import ResultsStore

SYNTH = {"motions": "translation,pan", "num_frames": 6, "height": 48, "width": 64}


def _plan(generators=("copy", "reverse", "recolor"), metrics=("motion-fidelity[backend=klt]", "temporal-flicker")):
    return Plan(ComponentSpec("synthetic", SYNTH), tuple(ComponentSpec.parse(g) for g in generators),
                tuple(ComponentSpec.parse(m) for m in metrics))


def _store(out):
    store = ResultsStore(out, readonly=True)
    try:
        return store.generations(), store.results()
    finally:
        store.close()


def test_each_source_is_rendered_once_for_every_generator_and_metric(tmp_path, monkeypatch):
    from evalkit import synthetic

    rendered = []
    original = synthetic.SyntheticSource.load
    monkeypatch.setattr(synthetic.SyntheticSource, "load", lambda self: rendered.append(self.spec.motion) or original(self))
    summary = run_plan(_plan(), tmp_path)
    assert summary.generated == 6 and summary.computed == 12 and summary.outcome.status == "complete"
    assert sorted(rendered) == ["pan", "translation"]  # 3 generators × 2 metrics per case, one render


def test_reference_generations_are_indices_into_one_copy_of_their_source(tmp_path):
    run_plan(_plan(), tmp_path)
    gens, results = _store(tmp_path)
    arts = tmp_path / "artifacts"
    assert len(list((arts / "sources").glob("*.npy"))) == 2   # one per case, shared by copy and reverse
    sizes = {g: (tmp_path / a).stat().st_size for g, a in zip(gens["generator"], gens["artifact"])}
    source_bytes = 6 * 48 * 64 * 3
    assert sizes["copy"] < source_bytes / 10 and sizes["reverse"] < source_bytes / 10
    assert sizes["recolor"] > source_bytes  # new pixels: stored in full
    for g, a, case in zip(gens["generator"], gens["artifact"], gens["case_id"]):
        (video,) = load_videos(tmp_path / a)   # what reports read
        if g == "reverse":
            (copy,) = load_videos(tmp_path / gens[(gens.case_id == case) & (gens.generator == "copy")].artifact.iloc[0])
            assert np.array_equal(video.frames, copy.frames[::-1])
    # a resumed run measures the stored generations exactly as the first did
    again = run_plan(_plan(metrics=("motion-fidelity[backend=klt]", "temporal-flicker", "dynamic-degree[backend=dis]")),
                     tmp_path)
    assert again.generated == 0 and again.computed == 6
    _, results2 = _store(tmp_path)
    first = results.set_index(["case_id", "generator", "metric"])["value"].sort_index()
    second = results2[results2.run_id == again.run_id].set_index(["case_id", "generator", "metric"])["value"]
    pd.testing.assert_series_equal(first, second.loc[first.index])


def test_shards_share_the_source_features_through_disk(tmp_path, monkeypatch):
    from evalkit.features.klt import KLTTracker

    tracked = []
    original = KLTTracker.track
    monkeypatch.setattr(KLTTracker, "track", lambda self, videos, **kw: tracked.extend(v.origin for v in videos)
                        or original(self, videos, **kw))
    plan = _plan(generators=("reverse", "recolor"), metrics=("motion-fidelity[backend=klt]",))
    run_plan(plan, tmp_path, shard=(0, 2))   # items 0, 2: reverse of each case
    run_plan(plan, tmp_path, shard=(1, 2))   # items 1, 3: recolor of each case, another process
    sources = [o for o in tracked if "|" not in o]   # generated videos carry their generator in the origin
    assert len(sources) == 2 and len(tracked) == 6   # each source tracked once, by the first shard


def test_the_device_threads_time_is_split_by_stage(tmp_path):
    """A slow CPU stage (a reference generation made while preparing) shows as the device thread
    waiting for preparation; the stages never add up to more than the run took."""
    import time

    import plugins_for_tests  # noqa: F401  (test-copy, test-squares, test-brightness)

    from evalkit.run.schedule import STAGES

    t0 = time.perf_counter()
    summary = run_plan(Plan(ComponentSpec("test-squares", {"n": 3}), (ComponentSpec("test-copy", {"sleep": 0.4}),),
                            (ComponentSpec("test-brightness"),)), tmp_path)
    elapsed = time.perf_counter() - t0
    assert set(summary.stages) == set(STAGES)
    assert summary.stages["waiting for preparation"] >= 0.35   # at least the first item's generation
    assert sum(summary.stages.values()) <= elapsed


def test_a_window_is_measured_while_its_artifacts_are_written_and_host_metrics_run_beside_the_device(
        tmp_path, monkeypatch):
    """The device thread computes a window's values before it waits for the window's artifact
    writes (a write here waits until a metric ran), host metrics (no model) run on another
    thread; the stored rows and values are those of running the items one by one."""
    import threading

    from evalkit.features.base import FeatureContext
    from evalkit.metrics.flicker import TemporalFlicker
    from evalkit.run import items as items_module
    from evalkit.run.items import CachePolicy, ItemRunner
    from evalkit.run.loads import GeneratorLoads
    from evalkit.run.runner import RunSummary, build_components

    measured, threads = threading.Event(), set()
    write = items_module.write_artifact

    def slow_write(*args, **kwargs):
        assert measured.wait(20), "the window's values waited for its artifact writes"
        return write(*args, **kwargs)

    def flicker_on(original):
        def compute(self, case, generation, ctx):
            threads.add(threading.get_ident())
            measured.set()
            return original(self, case, generation, ctx)
        return compute

    monkeypatch.setattr(items_module, "write_artifact", slow_write)
    monkeypatch.setattr(TemporalFlicker, "compute", flicker_on(TemporalFlicker.compute))
    plan = _plan(generators=("reverse", "recolor"))
    summary = run_plan(plan, tmp_path / "pipelined")
    assert summary.computed == 8 and summary.outcome.status == "complete"
    assert threading.get_ident() not in threads   # temporal flicker ran on a host-metric thread

    monkeypatch.undo()
    one_by_one = tmp_path / "one-by-one"
    cases, gens, metrics = build_components(plan, "cpu")
    store = ResultsStore(one_by_one)
    try:
        store.start_run(plan.run_id, plan.to_dict(), {}, 8)
        runner = ItemRunner(store, plan.run_id, FeatureContext(), GeneratorLoads(store, plan.run_id, "cpu", "0/1"),
                            CachePolicy(), RunSummary(plan.run_id, store.path))
        for case in cases:
            for gen in gens:
                runner.run(case, gen, 0, metrics)
    finally:
        store.close()
    a = _store(tmp_path / "pipelined")[1].set_index(["case_id", "generator", "metric"])["value"].sort_index()
    b = _store(one_by_one)[1].set_index(["case_id", "generator", "metric"])["value"].sort_index()
    pd.testing.assert_series_equal(a, b)
