"""Third-party plugins without forking: a package outside the repo adds a metric and a
generator through the ``evalkit.plugins`` entry points (or ``--plugin module``), and
``evalkit list`` / ``evalkit run`` use them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PLUGIN = textwrap.dedent('''
    """A demo plugin: a mirrored-video generator and a frame-count metric."""
    import numpy as np

    from evalkit.cases import Generation, StageTimings
    from evalkit.generators.base import Generator
    from evalkit.metrics.base import Metric, MetricResult, MetricSpec
    from evalkit.registry import GENERATORS, METRICS


    @GENERATORS.register("demo-mirror")
    class Mirror(Generator):
        case_kinds = ("motion-transfer",)

        def generate(self, case, seed):
            src = case.source.load()
            return Generation((src.with_frames(np.ascontiguousarray(src.frames[:, :, ::-1]), note="mirror"),),
                              StageTimings())


    @METRICS.register()
    class FrameCount(Metric):
        spec = MetricSpec(name="demo-frame-count", higher_is_better=True, value_range=(0.0, 1e9),
                          case_kinds=("motion-transfer",), reference="demo plugin", per_video=False)

        def compute(self, case, generation, ctx):
            return MetricResult(float(generation.video.num_frames))
''')


def _package(tmp_path: Path) -> Path:
    pkg = tmp_path / "src"
    (pkg / "evalkit_demo_plugin").mkdir(parents=True)
    (pkg / "evalkit_demo_plugin" / "__init__.py").write_text(PLUGIN)
    (pkg / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "evalkit-demo-plugin"
        version = "0.1"
        [project.entry-points."evalkit.plugins"]
        demo = "evalkit_demo_plugin"
    '''))
    return pkg


def _evalkit(args, site: Path | None, tmp_path: Path, pythonpath: list[Path] = ()):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*pythonpath, *([site] if site else []), REPO])),
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=240)


def _check_list_and_run(tmp_path, site, extra_args=(), pythonpath=()):
    listed = _evalkit([*extra_args, "list", "--json"], site, tmp_path, pythonpath)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    gen = next(e for e in entries["generators"] if e["name"] == "demo-mirror")
    met = next(e for e in entries["metrics"] if e["name"] == "demo-frame-count")
    assert gen["from"].startswith("evalkit_demo_plugin") and met["from"].startswith("evalkit_demo_plugin")
    assert next(e for e in entries["generators"] if e["name"] == "copy")["from"] == "evalkit"
    ran = _evalkit([*extra_args, "run", "synthetic", "-g", "demo-mirror", "-m", "demo-frame-count",
                    "--out", str(tmp_path / "run"), "-q"], site, tmp_path, pythonpath)
    assert ran.returncode == 0, ran.stderr
    assert "| demo-mirror | 16.0" in ran.stdout      # 16 frames per default synthetic clip


@pytest.mark.slow
def test_installed_plugin_package_is_listed_and_runs(tmp_path):
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), str(_package(tmp_path))],
                         capture_output=True, text=True, timeout=240)
    assert pip.returncode == 0, pip.stderr
    assert list(site.glob("evalkit_demo_plugin-0.1.dist-info/entry_points.txt"))
    _check_list_and_run(tmp_path, site)


def test_plugin_module_given_on_the_command_line(tmp_path):
    pkg = _package(tmp_path)
    _check_list_and_run(tmp_path, None, ("--plugin", "evalkit_demo_plugin"), pythonpath=[pkg])


def test_a_broken_plugin_is_one_error_line(tmp_path):
    out = _evalkit(["--plugin", "no_such_plugin_module", "list"], None, tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: plugin no_such_plugin_module (--plugin) failed to import: "
        "ModuleNotFoundError: No module named 'no_such_plugin_module'"]
