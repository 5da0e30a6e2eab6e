"""Generations made of their source's frames: found by frame content, stored as indices into
one shared copy of the source, rebuilt exactly."""
from __future__ import annotations

import numpy as np

from evalkit.run.derived import frame_indices, rebuild, source_file
from evalkit.synthetic import SyntheticSpec, render


def test_index_generations_are_found_and_rebuilt_exactly(tmp_path):
    source = render(SyntheticSpec("pan", num_frames=5, height=32, width=40)).video
    reverse = source.with_frames(source.frames[::-1])
    shuffled = source.with_frames(source.frames[[2, 0, 4, 1, 3]])
    recolored = source.with_frames(255 - source.frames)
    assert frame_indices(reverse, source).tolist() == [4, 3, 2, 1, 0]
    assert frame_indices(shuffled, source).tolist() == [2, 0, 4, 1, 3]
    assert frame_indices(recolored, source) is None
    assert frame_indices(source.resize(16, 20), source) is None
    path = source_file(tmp_path, source)
    assert source_file(tmp_path, source) == path and len(list(path.parent.iterdir())) == 1  # written once
    assert np.array_equal(rebuild(tmp_path, path.name, np.array([4, 3, 2, 1, 0])), reverse.frames)
