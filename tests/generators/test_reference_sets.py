import numpy as np
import pytest

from evalkit.cases import ImageFiles, MultiShotCase, PersonalizationCase
from evalkit.errors import InvalidInputError
from evalkit.registry import GENERATORS


def shots_case(n=3):
    return MultiShotCase("set1", "a girl", tuple(f"a girl in scene {i}" for i in range(n)))


def test_synthetic_shots_same_subject_are_identical():
    gen = GENERATORS.get("synthetic-shots")(num_frames=4)(shots_case(), seed=0)
    assert len(gen.videos) == 3
    for v in gen.videos[1:]:
        np.testing.assert_array_equal(v.frames, gen.videos[0].frames)


def test_synthetic_shots_different_subjects_differ_and_are_deterministic():
    g = GENERATORS.get("synthetic-shots")(same_subject=False, num_frames=4)
    a, b = g(shots_case(), 0), g(shots_case(), 0)
    assert not np.array_equal(a.videos[0].frames, a.videos[1].frames)
    for x, y in zip(a.videos, b.videos):
        np.testing.assert_array_equal(x.frames, y.frames)


def test_reference_still(shared_data):
    paths = tuple(sorted((shared_data / "dreambooth" / "dog").glob("*.jpg")))
    case = PersonalizationCase("dog-0", "dog", "dog", "a sks dog in the snow", ImageFiles(paths))
    v = GENERATORS.get("reference-still")(num_frames=5, height=64, width=64)(case, 0).video
    assert v.frames.shape == (5, 64, 64, 3)
    assert (v.frames == v.frames[0]).all()
    with pytest.raises(InvalidInputError, match="dog-0"):
        GENERATORS.get("reference-still")(image=99)(case, 0)
