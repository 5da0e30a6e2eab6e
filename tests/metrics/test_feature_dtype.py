"""The metric option ``dtype``: float32 by default and then invisible (cache keys and stored
configs as before), any other value explicit in the column name and the cache key, passed to
every model backend the metric uses, and refused where it cannot apply."""
import pytest

pytestmark = pytest.mark.ml   # needs the ml extra: skipped on a core install (tox -e core)

from evalkit.cases import Generation, InlineVideo, MotionTransferCase
from evalkit.errors import EvalkitError
from evalkit.features.base import FeatureContext
from evalkit.registry import METRICS
from evalkit.run.keys import metric_key
from evalkit.synthetic import SyntheticSpec, render

MODEL_METRICS = ("motion-fidelity", "dynamic-degree", "identity-leakage", "subject-consistency",
                 "background-consistency", "clip-text", "clip-score", "clip-temporal-consistency",
                 "aesthetic-quality", "set-consistency", "dino-i", "clip-i")


@pytest.mark.parametrize("name", MODEL_METRICS)
def test_float32_is_the_default_and_leaves_the_config_as_before(name):
    default, explicit = METRICS.get(name)(), METRICS.get(name)(dtype="float32")
    assert default.feature_dtype == "float32" and "dtype" not in default.config
    assert explicit.config == default.config and explicit.column == default.column


@pytest.mark.parametrize("name", MODEL_METRICS)
def test_bfloat16_is_explicit_in_the_column_and_the_key(name):
    case = MotionTransferCase("c", InlineVideo(render(SyntheticSpec("pan", num_frames=2)).video), "t")
    f32, b16 = METRICS.get(name)(), METRICS.get(name)(dtype="bfloat16")
    assert "dtype=bfloat16" in b16.column and b16.config["dtype"] == "bfloat16"
    assert metric_key("g", case, f32) != metric_key("g", case, b16)


def test_known_config_of_a_float32_metric_is_unchanged():
    # what subject-consistency stored before the option existed, so existing keys stay valid
    assert METRICS.get("subject-consistency")().config == {"name": "subject-consistency", "version": "1",
                                                         "backend": "dino-vitb16"}


def test_dtype_does_not_apply_to_weight_free_backends_or_the_reference_fp16():
    with pytest.raises(EvalkitError, match="'klt' is a weight-free CPU algorithm"):
        METRICS.get("motion-fidelity")(backend="klt", dtype="bfloat16")
    with pytest.raises(EvalkitError, match="fp16=true is the reference's own fp16 arithmetic"):
        METRICS.get("background-consistency")(fp16=True, dtype="bfloat16")
    with pytest.raises(EvalkitError, match="dtype='float16' not in"):
        METRICS.get("subject-consistency")(dtype="float16")
    METRICS.get("motion-fidelity")(backend="klt")  # float32 is fine everywhere


class RecordingContext(FeatureContext):
    """Records the dtype each backend is asked in; serves precomputed unit features."""

    def __init__(self):
        super().__init__()
        self.asked = []

    def backend(self, name, dtype=None, **options):
        self.asked.append((name, dtype))
        return super().backend(name, dtype=dtype, **options)


@pytest.fixture(scope="module")
def tiny_dino(tmp_path_factory):
    from evalkit.testing.random_models import install_random_models

    install_random_models(tmp_path_factory.getbasetemp() / "hf_home", ["facebook/dino-vitb16"])


def test_the_dtype_reaches_the_backend(tiny_dino):
    video = render(SyntheticSpec("pan", num_frames=3, height=48, width=64)).video
    case = MotionTransferCase("c", InlineVideo(video), "t")
    ctx = RecordingContext()
    value = METRICS.get("identity-leakage")(dtype="bfloat16")(case, Generation((video,)), ctx).value
    assert ctx.asked == [("dino-vitb16", "bfloat16")] * 2
    f32 = METRICS.get("identity-leakage")()(case, Generation((video,)), FeatureContext()).value
    assert value == pytest.approx(f32, abs=0.05) and value != f32
