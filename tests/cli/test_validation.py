"""Plan-time validation: every option (types, ranges, list syntax) is checked before anything
runs; a bad value is one `error:` line, exit 2, and no store. Hostile values are fuzzed."""
from __future__ import annotations

import plugins_for_tests  # noqa: F401  (registers test-* plugins)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from evalkit.cli import _load_commands, app
from evalkit.configurable import Configurable
from evalkit.errors import EvalkitError
from evalkit.registry import METRICS
from evalkit.run.device import resolve_device
from evalkit.run.plan import ComponentSpec, load_plan, parse_limit, parse_seeds
from evalkit.run.runner import parse_shard

_load_commands()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
values = st.one_of(st.text(max_size=30), st.sampled_from(["1,x", "a/b", "abc", "2.7", "-2", "0", "1e400", "nan",
                                                          "0+1+2+3", "[", "{a: b}", "yes", "", "100000"]))


def _one_error_line(args, tmp_path, must_say: str = "") -> str:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [*args, "--out", str(out)] if args[0] == "run" else list(args))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert must_say in lines[0], lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists()     # a failed plan leaves no (empty) store behind
    return lines[0]


@pytest.mark.parametrize("args, says", [
    (["run", "synthetic", "--seeds", "1,x"], "seeds: 'x' is not an integer"),
    (["run", "synthetic", "--shard", "a/b"], "--shard 'a/b'"),
    (["run", "synthetic", "--shard", "2/2"], "0 ≤ i < n"),
    (["run", "synthetic[fps=abc]"], "synthetic: option fps='abc' must be a number"),
    (["run", "synthetic[num_frames=0]"], "num_frames=0 out of range"),
    (["run", "synthetic", "--limit", "-2"], "limit: -2"),
    (["run", "synthetic", "--limit", "abc"], "--limit"),
    (["run", "synthetic", "-m", "motion-fidelity[grid_size=abc]"], "grid_size='abc' must be an integer"),
    (["run", "synthetic", "-m", "motion-fidelity[grid_size=2.7]"], "grid_size=2.7 must be an integer"),
    (["run", "synthetic", "-m", "motion-fidelity[grid_size=100000]"], "grid_size=100000 out of range [1, 256]"),
    (["run", "synthetic", "-m", "motion-fidelity[backend=raft]"], "backend 'raft' not in"),
    (["run", "synthetic", "-g", "mbq[injection_fraction=1.5]"], "injection_fraction=1.5 out of range [0.0, 1.0]"),
    (["run", "synthetic", "-g", "vanilla[steps=abc]"], "steps='abc' must be an integer"),
    (["run", "synthetic", "-g", "copy[", "-m", "temporal-flicker"], "cannot parse component"),
    (["run", "synthetic[" + "x" * 300 + "=1]"], "unknown option"),
    (["run", "x" * 300], "unknown dataset"),
    (["run", "synthetic", "--device", "gpu"], "--device 'gpu': expected auto, cpu, cuda or cuda:N"),
    (["run", "synthetic", "--bogus"], "No such option: --bogus"),
    (["score", "temporal-flicker", "--generated", "x.mp4", "--fps", "0"], "--fps 0: a frame rate must be positive"),
    (["score", "motion-fidelity", "--generated", "x.mp4", "--source", "y.mp4", "-o", "grid_size=abc"],
     "grid_size='abc' must be an integer"),
])
def test_bad_values_are_one_error_line_and_exit_2(tmp_path, args, says):
    """Defects: these crashed with tracebacks or were accepted silently (--limit -2 ran all but two
    cases, --fps 0 became 24, grid_size=2.7 was keyed as 2.7 and used as 2, grid_size=100000 tried
    a 74.5 GiB allocation, --device gpu silently became cpu)."""
    _one_error_line(args, tmp_path, says.replace("must be positive", "must be a positive"))


def test_a_cuda_device_without_cuda_is_an_error(monkeypatch):
    monkeypatch.setattr("evalkit.run.device.cuda_devices", lambda: 0)
    with pytest.raises(EvalkitError, match="no CUDA device is available"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu" and resolve_device(" CPU ") == "cpu"
    monkeypatch.setattr("evalkit.run.device.cuda_devices", lambda: 2)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(EvalkitError, match="has 2 CUDA device"):
        resolve_device("cuda:2")


def test_the_default_device_is_auto():
    import inspect

    from evalkit.cli.run import run
    from evalkit.cli.score import score

    for command in (run, score):
        assert inspect.signature(command).parameters["device"].default.default == "auto"


def test_an_unknown_template_placeholder_is_one_error_line(tmp_path):
    manifest = tmp_path / "stories.yaml"
    manifest.write_text("""version: 1
kind: multishot-story
name: t
prompt_template: "{subject} {setting}, {style} in {place}"
sets:
  - {id: a, subject: A girl, subject_word: a girl, style: anime, settings: [surfing, running]}
""")
    line = _one_error_line(["run", f"multishot-story[manifest={manifest}]", "-g", "synthetic-shots",
                            "-m", "temporal-flicker"], tmp_path)
    assert "dataset 'multishot-story'" in line and "place" in line


def test_list_options_as_docs_datasets_md_writes_them():
    """docs/datasets.md: inside brackets a list is written with '+' (seeds=0+1+2+3 crashed)."""
    plan = load_plan("synthetic[seeds=0+1+2+3,motions=translation+pan]", generators=["copy"],
                     metrics=["temporal-flicker"])
    assert plan.dataset.options == {"seeds": (0, 1, 2, 3), "motions": ("translation", "pan")}


def test_a_config_names_generators_as_a_string_or_a_list(tmp_path):
    """Defect: `generators: copy` as a string became the generators c, o, p, y."""
    for text in ("generators: copy", "generators: copy,static", "generators: [copy]"):
        cfg = tmp_path / "plan.yaml"
        cfg.write_text(f"dataset: synthetic\n{text}\nmetrics: temporal-flicker\nseeds: 0+1\nlimit: 2\n")
        plan = load_plan(str(cfg))
        assert [g.name for g in plan.generators] == ["copy", "static"][: 1 + text.count(",")]
        assert plan.seeds == (0, 1) and plan.limit == 2
    cfg.write_text("dataset: synthetic\nlimit: -2\n")
    with pytest.raises(EvalkitError, match="limit"):
        load_plan(str(cfg))


def test_converted_values_are_keyed_as_used():
    """grid_size=55.0 is the integer 55 in the plan, the cache key and the computation."""
    plan = load_plan("synthetic", generators=["copy"], metrics=["motion-fidelity[backend=klt,grid_size=55.0]"])
    assert plan.metrics[0].options == {"backend": "klt", "grid_size": 55}
    assert plan.run_id == load_plan("synthetic", generators=["copy"],
                                    metrics=["motion-fidelity[backend=klt,grid_size=55]"]).run_id
    assert METRICS.get("motion-fidelity")(grid_size=55.0).config["grid_size"] == 55


class _Options(Configurable):
    registry_name = "opts"
    defaults = {"n": 3, "x": 0.5, "flag": False, "name": "a", "items": ("a",), "seeds": (0,), "free": None}
    bounds = {"n": (1, 10), "x": (0.0, 1.0)}


@FUZZ
@given(key=st.sampled_from(["n", "x", "flag", "name", "items", "seeds", "free"]), value=values)
def test_an_option_is_converted_or_refused_with_a_named_error(key, value):
    parsed = ComponentSpec.parse(f"opts[{key}={value}]").options.get(key) if value.strip() and "," not in value \
        and "]" not in value else value
    try:
        out = _Options.checked_options({key: parsed})
    except EvalkitError as exc:
        assert str(exc).startswith(f"opts: option {key}")
        return
    kind = type(_Options.defaults[key])
    if _Options.defaults[key] is not None:
        assert isinstance(out[key], kind)
    if key in _Options.bounds:
        low, high = _Options.bounds[key]
        assert low <= out[key] <= high


@FUZZ
@given(values)
def test_seeds_limit_shard_and_device_parse_or_fail_clearly(text):
    for parse in (parse_seeds, parse_limit, parse_shard, resolve_device):
        try:
            parse(text)
        except EvalkitError:
            pass


@FUZZ
@given(st.text(max_size=300))
def test_any_dataset_spec_or_component_text_is_a_plan_or_an_evalkit_error(text):
    for call in (lambda: load_plan(text, generators=["copy"], metrics=["temporal-flicker"]),
                 lambda: load_plan("synthetic", generators=[text], metrics=["temporal-flicker"]),
                 lambda: load_plan("synthetic", generators=["copy"], metrics=[text])):
        try:
            call()
        except EvalkitError:
            pass


def test_help_shows_bracketed_syntax():
    """Defect: rich markup stripped "[key=value,...]" from --help."""
    result = CliRunner().invoke(app, ["run", "--help"])
    assert result.exit_code == 0 and "name[key=value,...]" in result.output
