"""Environment errors (missing weights or data, a full disk, out of memory) are recorded but
never cached as item failures: a plain re-run retries them. Item errors are cached until
--retry-failed. Generation keys follow the generator's code and weights; --recompute exists."""
from __future__ import annotations

import errno
import importlib.util
import sys

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest
from stored_values import stored_results

from evalkit.cases import Generation
from evalkit.errors import MissingWeightsError
from evalkit.generators.base import Generator, _source_digest
from evalkit.metrics.base import Metric, MetricResult, MetricSpec
from evalkit.registry import GENERATORS, METRICS
from evalkit.run.failures import ENVIRONMENT, ITEM, failure_class
from evalkit.run.plan import ComponentSpec, Plan
from evalkit.run.runner import run_plan

BROKEN = {"generator": None, "metric": None}   # the exception to raise, while the environment is broken


@GENERATORS.register("test-env-generator")
class EnvGenerator(Generator):
    case_kinds = ("motion-transfer",)
    defaults = {"weights": ""}

    def weights_ids(self):
        return (self.options["weights"],) if self.options["weights"] else ()

    def generate(self, case, seed):
        if BROKEN["generator"] is not None:
            raise BROKEN["generator"]
        return Generation((case.source.load(),))


@METRICS.register("test-env-metric")
class EnvMetric(Metric):
    spec = MetricSpec(name="test-env-metric", higher_is_better=True, value_range=(0, 255),
                      case_kinds=("motion-transfer",), reference="tests")

    def compute(self, case, generation, ctx):
        if BROKEN["metric"] is not None:
            raise BROKEN["metric"]
        return MetricResult(float(generation.video.frames.mean()))


def _plan(gen_opts=None, **dataset) -> Plan:
    return Plan(ComponentSpec("test-squares", {"n": 2, **dataset}), (ComponentSpec("test-env-generator", gen_opts or {}),),
                (ComponentSpec("test-env-metric"),))


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), MemoryError("CUDA"),
                                   MissingWeightsError("weights 'org/model' not found offline")],
                         ids=["disk-full", "out-of-memory", "missing-weights"])
@pytest.mark.parametrize("where", ["generator", "metric"])
def test_environment_failures_are_retried_by_a_plain_rerun(tmp_path, error, where):
    """Defect: transient environment errors were cached as permanent item failures."""
    BROKEN[where] = error
    try:
        first = run_plan(_plan(), tmp_path)
    finally:
        BROKEN[where] = None
    df = stored_results(tmp_path, first.run_id)
    assert (df["status"] == "failed").all() and (df["failure"] == "environment").all()
    assert first.status == "failed" and all(r.environment for r in first.outcome.reasons)
    second = run_plan(_plan(), tmp_path)                          # no --retry-failed
    assert second.status == "complete" and second.computed == 2
    assert second.generated == (2 if where == "generator" else 0)


def test_a_missing_data_root_is_an_environment_failure(tmp_path):
    p = _plan(n=0, missing=str(tmp_path / "not-mounted" / "clip.mp4"))
    run_plan(p, tmp_path / "out")
    df = stored_results(tmp_path / "out", p.run_id)
    assert df["failure"].tolist() == ["environment"] and "no such file or folder" in df["error"].iloc[0]
    assert run_plan(p, tmp_path / "out").generated == 1          # retried, not cached


def test_item_failures_are_cached_until_retry_failed(tmp_path):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    p = _plan(n=0, missing=str(bad))
    run_plan(p, tmp_path / "out")
    assert stored_results(tmp_path / "out", p.run_id)["failure"].tolist() == ["item"]
    assert run_plan(p, tmp_path / "out").recomputed_nothing
    assert run_plan(p, tmp_path / "out", retry_failed=True).generated == 1


def test_failure_classes():
    assert failure_class(FileNotFoundError(errno.ENOENT, "x")) == ENVIRONMENT
    assert failure_class(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")) == ENVIRONMENT
    assert failure_class(type("OutOfMemoryError", (RuntimeError,), {})("boom")) == ENVIRONMENT
    assert failure_class(ValueError("corrupt")) == ITEM
    try:   # an item error raised while handling a missing file is still about the environment
        try:
            raise FileNotFoundError(errno.ENOENT, "weights.bin")
        except FileNotFoundError as exc:
            raise RuntimeError("could not build the model") from exc
    except RuntimeError as exc:
        assert failure_class(exc) == ENVIRONMENT


def test_generation_keys_follow_the_weights_revision(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"a")
    p = _plan({"weights": str(weights)})
    assert run_plan(p, tmp_path / "out").generated == 2
    assert run_plan(p, tmp_path / "out").generated == 0
    (weights / "model.safetensors").write_bytes(b"bb")          # new weights under the same path
    assert run_plan(p, tmp_path / "out").generated == 2


def test_generation_keys_follow_the_generators_code(tmp_path, monkeypatch):
    source = tmp_path / "my_generator.py"
    source.write_text("from evalkit.generators.base import Generator\nclass Mine(Generator):\n    pass\n")

    def digest():
        name = f"my_generator_{len(sys.modules)}"
        spec = importlib.util.spec_from_file_location(name, source)
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.Mine.code_version()

    before = digest()
    source.write_text(source.read_text() + "    # a changed line\n")
    assert digest() != before
    assert _source_digest(EnvGenerator) == _source_digest(EnvGenerator)
    p = _plan()
    assert run_plan(p, tmp_path / "out").generated == 2
    monkeypatch.setattr(EnvGenerator, "code_version", classmethod(lambda cls: "1:edited"))
    assert run_plan(p, tmp_path / "out").generated == 2


def test_recompute_recomputes_everything(tmp_path):
    run_plan(_plan(), tmp_path)
    again = run_plan(_plan(), tmp_path, recompute=True)
    assert (again.generated, again.computed, again.generations_cached, again.metrics_cached) == (2, 2, 0, 0)
