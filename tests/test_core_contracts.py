"""Registry, hashing, cases, compat and plan parsing."""

import numpy as np
import pytest

from evalkit.cases import FileVideo, FrameRange, Generation, InlineVideo, MotionTransferCase, StageTimings
from evalkit.errors import EvalkitError, InvalidInputError
from evalkit.hashing import stable_hash
from evalkit.registry import Registry, UnknownNameError
from evalkit.run.plan import ComponentSpec, load_plan, split_components
from evalkit.video import Video, write_video


def test_registry_rejects_duplicates_and_suggests():
    reg = Registry("thing", "evalkit.report")

    @reg.register("motion-fidelity")
    class A:
        pass

    with pytest.raises(ValueError, match="already registered"):
        @reg.register("motion-fidelity")
        class B:
            pass

    with pytest.raises(UnknownNameError, match="did you mean motion-fidelity"):
        reg.get("motion-fidelty")
    with pytest.raises(ValueError, match="kebab-case"):
        reg.register("Bad_Name")
    assert A.registry_name == "motion-fidelity"


def test_stable_hash_is_order_insensitive_and_content_sensitive():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": (1, 2), "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def _video(seed=0):
    rng = np.random.default_rng(seed)
    return Video(rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8), 8.0)


def test_case_hash_depends_on_content_not_path(tmp_path):
    v = _video()
    write_video(v, tmp_path / "a")
    write_video(v, tmp_path / "b")
    ca = MotionTransferCase("x", FileVideo(tmp_path / "a"), "a cat")
    cb = MotionTransferCase("x", FileVideo(tmp_path / "b"), "a cat")
    assert ca.content_hash() == cb.content_hash()
    assert ca.content_hash() != MotionTransferCase("x", FileVideo(tmp_path / "a"), "a dog").content_hash()
    assert ca.content_hash() != MotionTransferCase(
        "x", FileVideo(tmp_path / "a", FrameRange(0, 4, 2)), "a cat").content_hash()
    write_video(_video(1), tmp_path / "b")
    cb2 = MotionTransferCase("x", FileVideo(tmp_path / "b"), "a cat")
    assert cb2.content_hash() != ca.content_hash()


def test_inline_and_generation():
    v = _video()
    case = MotionTransferCase("x", InlineVideo(v), "p")
    assert case.source.load() is v
    g = Generation((v,), StageTimings(1.0, 2.0, 3.0))
    assert g.timings.total == 6.0 and g.video is v
    with pytest.raises(InvalidInputError, match="one video"):
        Generation((v, v)).video
    with pytest.raises(InvalidInputError):
        Generation(())


def test_compat_makes_torchvision_importable():
    pytest.importorskip("torch")
    from evalkit.compat import ensure_torchvision, torchvision_was_patched

    tv = ensure_torchvision()
    from torchvision.models.optical_flow import raft_small  # the part evalkit uses

    assert tv.__version__ and callable(raft_small)
    import torch

    if torch.cuda.is_available() or not torchvision_was_patched():
        return  # nothing to patch on a matching build
    with pytest.raises(Exception):  # compiled ops still raise: the patch only defines schemas
        torch.ops.torchvision.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)


def test_component_parsing():
    assert split_components("a,b[x=1,y=2],c") == ["a", "b[x=1,y=2]", "c"]
    spec = ComponentSpec.parse("motion-fidelity[backend=klt,grid_size=10,use_mask=true]")
    assert spec == ComponentSpec("motion-fidelity", {"backend": "klt", "grid_size": 10, "use_mask": True})
    with pytest.raises(EvalkitError, match="key=value"):
        ComponentSpec.parse("m[oops]")


def test_plan_from_yaml_and_run_id(tmp_path):
    cfg = tmp_path / "plan.yaml"
    cfg.write_text("dataset: synthetic\ngenerators: [copy, {name: recolor, hue: 90}]\n"
                   "metrics: [temporal-flicker]\nseeds: [0, 1]\n")
    plan = load_plan(str(cfg))
    assert plan.generators[1] == ComponentSpec("recolor", {"hue": 90}) and plan.seeds == (0, 1)
    assert plan.run_id == load_plan(str(cfg)).run_id
    assert plan.run_id != load_plan(str(cfg), seeds=[0]).run_id
    bad = tmp_path / "bad.yaml"
    bad.write_text("generators: [copy]\n")
    with pytest.raises(EvalkitError, match="dataset"):
        load_plan(str(bad))


def test_plan_sweep_expands_into_one_generator_per_value(tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("dataset: synthetic\ngenerators:\n  - copy\n"
                   "  - {name: mbq, backbone: zeroscope, sweep: {injection_fraction: [0.0, 0.2], steps: [2, 4]}}\n")
    plan = load_plan(str(cfg))
    assert plan.generators[0] == ComponentSpec("copy")
    fractions = [(g.options["injection_fraction"], g.options["steps"]) for g in plan.generators[1:]]
    assert fractions == [(0.0, 2), (0.0, 4), (0.2, 2), (0.2, 4)]
    assert all(g.options["backbone"] == "zeroscope" for g in plan.generators[1:])
    cfg.write_text("dataset: synthetic\ngenerators: [{name: mbq, sweep: {injection_fraction: 0.2}}]\n")
    with pytest.raises(EvalkitError, match="sweep"):
        load_plan(str(cfg))


def test_load_backend_shares_one_instance_whether_defaults_are_named_or_not():
    from evalkit.features.base import load_backend
    from evalkit.registry import FEATURES

    klt = FEATURES.get("klt")
    assert load_backend("klt") is load_backend("klt", **klt.defaults)
    assert load_backend("klt") is not load_backend("klt", win_size=klt.defaults["win_size"] + 2)
