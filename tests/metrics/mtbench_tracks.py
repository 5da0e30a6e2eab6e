"""Random point tracks shared by the MTBench equivalence test and the script that produced its
fixture with the released functions (tests/metrics/data/mtbench_released.json)."""
from __future__ import annotations

import numpy as np

#: (seed, source frames, generated frames, source H×W, generated H×W, tracks)
CASES = [
    (0, 49, 49, (480, 720), (480, 720), 300),
    (1, 49, 33, (480, 720), (480, 832), 200),
    (2, 24, 49, (480, 720), (320, 512), 150),
]


def random_tracks(seed: int, source_frames: int, generated_frames: int, source_size, generated_size,
                  n: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, N, 2) float32 pixel tracks of a source and a generated video: random walks whose
    generated steps follow the source's (resampled in time, rescaled) plus noise."""
    rng = np.random.default_rng(seed)
    (hs, ws), (hg, wg) = source_size, generated_size
    start = rng.uniform(0, 1, (n, 2))
    steps = rng.normal(0, 0.01, (source_frames - 1, n, 2))
    source = np.concatenate([start[None], start[None] + np.cumsum(steps, 0)]) * [ws, hs]
    times = np.linspace(0, source_frames - 1, generated_frames)
    unit = source / [ws, hs]
    generated = np.stack([np.interp(times, np.arange(source_frames), unit[:, i, k])
                          for i in range(n) for k in range(2)], 1).reshape(generated_frames, n, 2)
    generated = (generated + rng.normal(0, 0.004, generated.shape)) * [wg, hg]
    return source.astype(np.float32), generated.astype(np.float32)
