"""V-Warper's correspondences (Eq. 3–5), masks and per-step warp field, on known answers."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.generators.attention import FeatureStore, Recorded  # noqa: E402
from evalkit.generators.methods.vwarper.correspondence import (
    correlation,
    cycle_error,
    match,
    symmetric_correlation,
    token_coords,
)
from evalkit.generators.methods.vwarper.field import FieldSettings, StepFields  # noqa: E402
from evalkit.generators.methods.vwarper.masks import SubjectMaps, cycle_mask, foreground_mask  # noqa: E402

GRID = (2, 3, 4)   # 2 frames of 3×4 tokens
N = 24


def features(seed=0, heads=2, dim=8):
    return torch.randn(heads, N, dim, generator=torch.Generator().manual_seed(seed)) * 3


def permuted_within_frames(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randperm(12, generator=g) + 12 * f for f in range(2)])


def test_correlation_is_eq3_and_symmetric_map_is_eq4():
    q, k = features(0), features(1)
    flat_q, flat_k = q.transpose(0, 1).reshape(N, -1), k.transpose(0, 1).reshape(N, -1)
    assert torch.allclose(correlation(q, k), torch.softmax(flat_q @ flat_k.T / 4.0, -1), atol=1e-6)   # d = 2·8
    per_head = torch.stack([torch.softmax(q[h] @ k[h].T / 8 ** 0.5, -1) for h in range(2)]).mean(0)
    assert torch.allclose(correlation(q, k, "mean"), per_head, atol=1e-6)
    q2, k2 = features(2), features(3)
    c = symmetric_correlation(q, k, q2, k2)
    assert torch.allclose(c, 0.5 * (correlation(q, k) + correlation(q2, k2).T))
    with pytest.raises(EvalkitError, match="head_reduce"):
        correlation(q, k, "max")


@pytest.mark.parametrize("scope", ["frame", "video"])
def test_matches_recover_a_permutation_with_zero_cycle_error(scope):
    """Generation tokens are the reference tokens shuffled within each frame: every match is the
    shuffle, every round trip exact, and splatting along ref→gen gives the same sources."""
    ref = features(0)
    perm = permuted_within_frames()
    gen = ref[:, perm]
    m = match(gen, ref, ref, gen, GRID, scope=scope)
    assert torch.equal(m.gen_to_ref, perm)
    assert torch.equal(m.gen_to_ref[m.ref_to_gen], torch.arange(N))
    assert torch.equal(cycle_error(m, GRID), torch.zeros(N))
    assert bool(m.splat_hit.all()) and torch.equal(m.splat_source, perm)


def test_cycle_error_is_the_round_trip_distance_in_tokens():
    ref = features(0)
    m = match(ref, ref, ref, ref, GRID)
    broken = type(m)(m.gen_to_ref, m.ref_to_gen.clone(), m.splat_source, m.splat_hit)
    broken.ref_to_gen[0] = 5            # token 0 (row 0, col 0) comes back as token 5 (row 1, col 1)
    err = cycle_error(broken, GRID)
    assert err[0] == pytest.approx(2 ** 0.5) and err[1:].eq(0).all()
    assert token_coords(GRID)[13].tolist() == [1.0, 0.0, 1.0]


def test_foreground_mask_normalisation_and_threshold():
    a = torch.linspace(0, 1, N)
    assert torch.equal(foreground_mask(a * 10, GRID, 0.3), a > 0.3)            # min–max over the video
    per_frame = foreground_mask(torch.cat([a[:12] * 10, a[:12] + 5]), GRID, 0.5, "frame")
    assert per_frame[:12].sum() == per_frame[12:].sum() == 6                    # each frame rescaled alone
    assert not foreground_mask(torch.ones(N), GRID, 0.3).any()                  # a flat map: no foreground
    assert torch.equal(foreground_mask(a, GRID, 0.3, "none"), a > 0.3)
    with pytest.raises(EvalkitError, match="fg_normalize"):
        foreground_mask(a, GRID, 0.3, "softmax")


def test_cycle_mask_threshold_scales_with_each_frames_foreground():
    """Eq. 5: E < τ_cc · H · ΣM_fg/(H·W), per frame (H = 3 token rows)."""
    fg = torch.zeros(N, dtype=torch.bool)
    fg[:12] = True                                  # frame 0 all foreground: threshold 0.1·3·1 = 0.3
    fg[12:18] = True                                # frame 1 half: 0.15
    err = torch.full((N,), 0.2)
    got = cycle_mask(err, fg, GRID, 0.1)
    assert got[:12].all() and not got[12:].any()
    assert not cycle_mask(torch.zeros(N), torch.zeros(N, dtype=torch.bool), GRID, 0.1).any()  # no fg: none


def test_subject_maps_average_layers_and_earlier_steps_only():
    maps = SubjectMaps()
    maps.add(0, "a", "gen", torch.ones(N))
    maps.add(0, "b", "gen", torch.zeros(N))
    maps.add(1, "a", "gen", torch.full((N,), 4.0))
    assert maps.mean("gen", before=0) is None
    assert torch.allclose(maps.mean("gen", before=1), torch.full((N,), 0.5))
    assert torch.allclose(maps.mean("gen", before=2), torch.full((N,), 5 / 3))
    assert maps.mean("ref", before=5) is None


def _store_with(step, gen, ref, layer="L"):
    store = FeatureStore()
    for w in ("q", "k"):
        store.put(layer, w, step, Recorded(torch.stack([gen, ref]), "BHSD", False, w))
    return store


def test_step_fields_match_the_previous_step_and_apply_the_masks():
    ref = features(0)
    perm = permuted_within_frames()
    maps = SubjectMaps()
    attention = torch.zeros(N)
    attention[:6] = 1.0
    maps.add(2, "L", "gen", attention)
    store = _store_with(2, ref[:, perm], ref)
    store.put("L", "q", 0, store.lookup("L", "q", 2))          # stale: pruned when step 3 matches
    fields = StepFields(store, maps, FieldSettings(GRID, "L", masks="fg+cc"))
    f = fields.field(3)
    assert torch.equal(f.source, perm)
    assert torch.equal(f.mask, attention > 0.3)                 # exact round trips: M = M_fg
    assert ("L", "q", 0) not in store and fields.field(3) is f and len(fields.stats) == 1
    assert fields.stats[0]["injected"] == pytest.approx(6 / N)
    nomask = StepFields(_store_with(2, ref[:, perm], ref), maps, FieldSettings(GRID, "L", masks="none"))
    assert nomask.field(3).mask.all()
    gen_mask, ref_mask = nomask.kv_masks(3)
    assert gen_mask.all() and ref_mask.all()
    with pytest.raises(EvalkitError, match="no RoPE-free Q/K of L at step 4 to match with at step 5"):
        StepFields(_store_with(2, ref, ref), maps, FieldSettings(GRID, "L")).field(5)
    with pytest.raises(EvalkitError, match="masks"):
        FieldSettings(GRID, "L", masks="some")
