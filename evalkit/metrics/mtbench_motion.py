"""MTBench's motion fidelity on track arrays (Shi et al., "Decouple and Track", ICCV 2025;
Shi-qingyu/DeT ``evaluation.py`` @ 2a2f4dd: ``get_cosine_similarity_score``,
``get_frechet_similarity_score``, ``motion_fidelity``). Written from its definition.

Tracks are (N, T, 2) in the tracked video's pixels; MTBench divides x by the width and y by
the height. The arithmetic is float32 torch as the release computes it, so values match it
to float rounding:

- frames matched by ``torch.linspace(0, T_long - 1, T_short).to(int32)`` on the longer array;
- each track becomes [initial position, per-step displacements] and every vector is made
  unit length; similarity[i, j] = mean over t of the dot products of generated track i and
  source track j; the score is the mean over generated tracks of the max over source tracks;
- hybrid: 0.5 × that + 0.5 × the mean over 50 drawn generated tracks of the max over the
  same-indexed source tracks of 1 / (1 + mean of the T×T Euclidean distances between the two
  tracks' points). The release draws the 50 indices with an unseeded ``torch.randint`` (so its
  score changes from run to run); evalkit draws them from ``torch.Generator().manual_seed(seed)``,
  the indices the release draws right after ``torch.manual_seed(seed)``.

Deviation: a zero-length vector (a point that does not move over one step) is left at zero
(cosine 0) where the release divides by zero and its whole score becomes NaN; the count is
returned so the metric can report it.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

HYBRID_TRACKS = 50  # evaluation.py: torch.randint(0, M, size=(50,))
MTBENCH_GRID = 50   # evaluation.py get_tracklets: grid_size=50


def normalise(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, T, 2) pixel tracks → x / W, y / H (``get_tracklets``), float32."""
    out = np.array(points, np.float32, copy=True)
    out[..., 0] /= np.float32(width)
    out[..., 1] /= np.float32(height)
    return out


def match_frames(a, b):
    """The longer of two track tensors (N, T, 2) sampled at ``linspace(0, T_long−1, T_short)``
    truncated to int32, as both similarity functions of the release do."""
    import torch

    ta, tb = a.shape[1], b.shape[1]
    if ta > tb:
        a = a[:, torch.linspace(0, ta - 1, tb).to(torch.int32).long()]
    elif tb > ta:
        b = b[:, torch.linspace(0, tb - 1, ta).to(torch.int32).long()]
    return a, b


def cosine_similarity(generated: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, int]:
    """(M, N) similarity of generated (M, T, 2) against source (N, T', 2) normalised tracks,
    and the number of zero-length vectors (left at zero; the release gives NaN)."""
    import torch

    g, s = match_frames(torch.from_numpy(np.asarray(generated, np.float32)),
                        torch.from_numpy(np.asarray(source, np.float32)))
    if g.shape[1] < 2:
        raise InvalidInputError("MTBench motion fidelity needs at least two frames")

    def steps(t):
        seq = torch.cat([t[:, :1], t[:, 1:] - t[:, :-1]], dim=1)
        return seq, seq.norm(dim=-1, keepdim=True)

    (g, gn), (s, sn) = steps(g), steps(s)
    zeros = int((gn == 0).sum() + (sn == 0).sum())
    g = torch.where(gn > 0, g / gn, torch.zeros_like(g))
    s = torch.where(sn > 0, s / sn, torch.zeros_like(s))
    return torch.einsum("ntc,mtc->nmt", g, s).mean(dim=-1).numpy(), zeros


def hybrid_track_ids(num_generated: int, seed: int) -> np.ndarray:
    """The 50 generated-track indices (with replacement) drawn from ``seed``."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, num_generated, size=(HYBRID_TRACKS,), generator=generator).numpy()


def frechet_similarity(generated: np.ndarray, source: np.ndarray) -> np.ndarray:
    """(M, N) 1 / (1 + mean pairwise Euclidean distance between the T points of generated
    track i and the T points of source track j), after frame matching (float64, as scipy's
    ``cdist`` on the release's float32 arrays)."""
    import torch

    g, s = match_frames(torch.from_numpy(np.asarray(generated, np.float32)),
                        torch.from_numpy(np.asarray(source, np.float32)))
    g, s = g.numpy().astype(np.float64), s.numpy().astype(np.float64)
    # d[i, j] = mean_{t, u} |g_i(t) - s_j(u)|
    diff = g[:, None, :, None, :] - s[None, :, None, :, :]
    distance = np.sqrt((diff ** 2).sum(-1)).mean(axis=(2, 3))
    return 1.0 / (1.0 + distance)


def mtbench_motion_fidelity(generated: np.ndarray, source: np.ndarray, *, hybrid: bool = False,
                            seed: int = 0) -> tuple[float, dict]:
    """MTBench's score of one generated video from normalised tracks (M, T, 2) and (N, T', 2),
    with the parts that make it."""
    import torch

    cos, zeros = cosine_similarity(generated, source)
    cosine = float(torch.from_numpy(cos).max(dim=1).values.mean())  # float32 torch, as the release
    details: dict = {"cosine": cosine, "zero_length_vectors": zeros}
    if not hybrid:
        return cosine, details
    if len(source) != len(generated):
        raise InvalidInputError(f"hybrid motion fidelity draws the same track indices from both videos: "
                                f"{len(generated)} generated vs {len(source)} source tracks")
    ids = hybrid_track_ids(len(generated), seed)
    frechet = float(frechet_similarity(generated[ids], source[ids]).max(axis=1).mean())
    details.update(frechet_similarity=frechet, hybrid_seed=int(seed), hybrid_tracks=HYBRID_TRACKS)
    return 0.5 * cosine + 0.5 * frechet, details
