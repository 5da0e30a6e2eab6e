"""V-Warper's resolved settings, the warping-direction reading the paper tables run, and the
package's helpers taking (family, settings) rather than the generator. No pipeline is loaded."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import pytest

pytest.importorskip("torch")

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.backbones import backbone_spec  # noqa: E402
from evalkit.generators.methods import vwarper as package  # noqa: E402
from evalkit.generators.methods.vwarper.settings import VWarperSettings  # noqa: E402
from evalkit.registry import GENERATORS  # noqa: E402
from evalkit.report.paper.tables import load_table  # noqa: E402
from evalkit.run.plan import ComponentSpec  # noqa: E402

TABLES = ("vwarper-table1", "vwarper-table2", "vwarper-tableA1")


def test_settings_resolve_the_backbones_defaults_once_and_are_frozen():
    spec = backbone_spec("cogvideox-5b")
    s = GENERATORS.get("vwarper")().settings
    assert isinstance(s, VWarperSettings)
    assert (s.height, s.width, s.steps, s.guidance) == (spec.height, spec.width, spec.steps, spec.guidance_scale)
    assert (s.num_frames, s.fps, s.match_layer, s.warp_layers, s.warp_steps) == (25, 16.0, 12, tuple(range(20, 30)),
                                                                                   tuple(range(3, 20)))
    assert s.mask_layers is None and s.coarse.rank == 128 and s.coarse.targets == "kvo"
    given = GENERATORS.get("vwarper")(height=32, width=48, steps=3, guidance_scale=1.0, warp_steps="5,2").settings
    assert (given.height, given.width, given.steps, given.guidance, given.warp_steps) == (32, 48, 3, 1.0, (2, 5))
    assert (given.coarse.height, given.coarse.width) == (32, 48)   # the artifact key sees the generation size
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.warp = "splat"


def test_warp_steps_must_name_a_step_unless_nothing_is_injected():
    with pytest.raises(EvalkitError, match="vwarper: warp_steps must name at least one step"):
        GENERATORS.get("vwarper")(warp_steps=[])
    assert GENERATORS.get("vwarper-coarse")(warp_steps=[]).settings.warp_steps == ()


def test_the_warp_direction_is_a_named_reading_with_both_sides():
    """Eq. 7 writes W(V_ref; F_ref→gen): ``splat`` takes that flow literally, ``gather`` (the
    default) warps backward along gen→ref. Both are accepted, nothing else is."""
    assert GENERATORS.get("vwarper").defaults["warp"] == "gather"
    assert GENERATORS.get("vwarper")(warp="splat").settings.warp == "splat"
    spec = ComponentSpec.parse("vwarper[warp=splat]")   # the spelling docs/generators/vwarper.md gives
    assert GENERATORS.get(spec.name)(**spec.options).settings.warp == "splat"
    with pytest.raises(EvalkitError, match="warp"):
        GENERATORS.get("vwarper")(warp="forward")


def test_table_rows_run_the_gather_reading():
    """The paper tables name generators only: every V-Warper row runs ``warp=gather`` (documented in
    docs/generators/vwarper.md, "Warping direction"); a change of default must show up here."""
    warping = 0
    for name in TABLES:
        for row in load_table(name).rows:
            if not (row.generator or "").startswith("vwarper"):
                continue
            s = GENERATORS.get(row.generator)().settings
            assert s.warp == "gather", (name, row.label)
            warping += s.injection == "value-warp"
    assert warping >= 4   # Table 1 V-Warper, Table 2 (II) and (III), Table A.1


def test_no_helper_of_the_package_takes_the_generator():
    """Issue 25 item 2: the helpers take (family, settings, ...), never ``gen``."""
    offenders = []
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            functions = [obj] if inspect.isfunction(obj) else \
                [f for f in vars(obj).values() if inspect.isfunction(f)] if inspect.isclass(obj) else []
            offenders += [f"{module.__name__}.{f.__qualname__}" for f in functions
                          if "gen" in inspect.signature(f).parameters]
    assert offenders == []
