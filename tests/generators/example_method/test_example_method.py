"""Adding a method touches only its own package: a test-only method package (``evalkit_example_method``,
beside this file) registers a generator through the plugin path, runs through ``evalkit run`` on a tiny
pipeline, and uses nothing but the backbone layer's public API."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "evalkit_example_method"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))   # tiny_pipelines, cli_runs

from cli_runs import run_config  # noqa: E402
from guidance_tiny import square_case  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402


def evalkit_imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("evalkit"):
            out.add(node.module)
    return out


def test_the_package_uses_only_the_backbone_layer():
    used = set().union(*(evalkit_imports(p) for p in PACKAGE.glob("*.py")))
    assert used and not any(m.startswith("evalkit.generators.methods") for m in used), used
    # and the shared attention package gains nothing: the behaviour lives in the method's package
    assert (PACKAGE / "behaviours.py").exists()


def test_registered_from_its_package_and_runs_through_evalkit_run(tiny_dirs, tmp_path):
    import evalkit_example_method  # noqa: F401  (registers on import, as a plugin module does)

    common = {"backbone": "wan2.1-1.3b", "model_path": tiny_dirs("wan"), "steps": 2, "height": 32, "width": 32,
              "num_frames": 9}
    cfg = {"dataset": {"name": "synthetic", "motions": ["translation"], "num_frames": 4, "height": 32, "width": 32},
           "generators": [{"name": "example-scaled-queries", **common, "factor": 2.0}],
           "metrics": ["runtime"]}
    _, df = run_config(tmp_path, cfg)
    assert (df.metric_name == "runtime").any() and (df[df.metric_name == "runtime"].value > 0).all()


def test_factor_one_is_vanilla_and_an_unsupported_family_is_a_plan_time_error(tiny_dirs):
    import evalkit_example_method  # noqa: F401

    opts = {"backbone": "cogvideox-2b", "model_path": tiny_dirs("cogvideox"), "steps": 2, "height": 32, "width": 32,
            "num_frames": 9}
    case = square_case(size=32)
    vanilla = GENERATORS.get("vanilla")(**opts).generate(case, 0).video.frames
    same = GENERATORS.get("example-scaled-queries")(**opts, factor=1.0).generate(case, 0)
    scaled = GENERATORS.get("example-scaled-queries")(**opts, factor=3.0).generate(case, 0)
    assert np.array_equal(same.video.frames, vanilla) and same.extras["scaled_calls"] > 0
    assert not np.array_equal(scaled.video.frames, vanilla)
    with pytest.raises(EvalkitError, match="example-scaled-queries runs on the families wan, cogvideox"):
        GENERATORS.get("example-scaled-queries")(backbone="zeroscope")
