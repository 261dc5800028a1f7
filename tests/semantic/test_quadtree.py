"""Quadtree merging (gr_semcod.runtime.quadtree): rate accounting, side bits, allocation, unmerge."""
import numpy as np
import pytest

from gr_semcod.runtime import quadtree as q

DEPTH = 3


def _latent(b=3, c=8, h=16, w=24, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(b, c, h, w)).astype(np.float32)
    f[0, :, :8, :8] = 0.5          # one flat window: merges for free
    if b > 1:
        f[1, :, 8:, 8:16] += 3.0 * rng.normal(size=(c, 8, 8))  # one busy window
    return f


def test_level_map_and_costs_agree_with_the_serialised_tree():
    f = _latent()
    for budget in (60.0, 150.0, 500.0):
        lev, info = q.allocate(f, DEPTH, 4.0, budget, 1.5, extra_bits=6, coded=False)
        tokens, bits = q.tree_cost(lev, DEPTH)
        assert np.array_equal(q.flag_counts(lev, DEPTH).sum(axis=(1, 2, 3)), bits)
        streams = q.tree_bits(lev, DEPTH)
        assert [len(s) for s in streams] == list(bits.astype(int))
        for i, s in enumerate(streams):
            np.testing.assert_array_equal(q.parse_tree_bits(s, lev.shape[1:], DEPTH), lev[i])
        assert np.allclose(info["symbols"], tokens * 4.0 + (bits + 6) * 1.5)
        # the symbols actually spent never exceed the budget unless the fully merged tree does
        assert np.all((info["symbols"] <= budget) | info["over"])
        assert tokens.min() >= (16 // 8) * (24 // 8)  # at least one token per window


def test_allocation_spends_more_on_busy_content_and_less_on_flat():
    f = _latent()
    lev, _ = q.allocate(f, DEPTH, 4.0, 150.0, 1.5, groups=np.array([0, 0, 1]))
    flat = q.tree_cost(lev[:1, :8, :8], DEPTH)[0][0]
    busy = q.tree_cost(lev[1:2, 8:, 8:16], DEPTH)[0][0]
    assert flat == 1 and busy > 4 * flat


def test_more_budget_never_costs_distortion():
    f = _latent(b=2, seed=3)
    dists = []
    for budget in (40.0, 80.0, 160.0, 320.0, 800.0, 3000.0):
        lev, info = q.allocate(f, DEPTH, 4.0, budget, 1.5)
        m = q.merge_map(f, lev, DEPTH)
        dists.append(float(((m - f) ** 2).sum()))
    assert all(a >= b - 1e-6 for a, b in zip(dists, dists[1:]))
    assert dists[-1] == pytest.approx(0.0, abs=1e-6)  # enough budget: nothing merged


def test_shared_budget_goes_where_the_content_is():
    """Two images as one group (the tiles of a photo) share one budget by content."""
    f = _latent(b=2, seed=1)
    f[0] = 0.1  # the first tile is flat
    lev, info = q.allocate(f, DEPTH, 4.0, 400.0, 1.5, groups=np.array([0, 0]))
    tokens, _ = q.tree_cost(lev, DEPTH)
    assert info["symbols"][0] <= 400.0
    assert tokens[0] == 6 and tokens[1] > 50  # one token per flat window, the rest to the busy tile


def test_extract_insert_round_trip_and_mismatch_error():
    f = _latent()
    lev, _ = q.allocate(f, DEPTH, 4.0, 120.0, 1.5)
    m = q.merge_map(f, lev, DEPTH)
    toks = q.extract_tokens(m, lev)
    assert [len(t) for t in toks] == list(q.tree_cost(lev, DEPTH)[0].astype(int))
    np.testing.assert_allclose(q.insert_tokens(toks, lev), m, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="tokens for a tree"):
        q.insert_tokens([toks[0][:-1]] + toks[1:], lev)


def test_merge_is_the_mean_of_each_leaf():
    f = _latent(b=1)
    lev = np.zeros((1, 16, 24), np.uint8)
    lev[0, :8, :8] = 3
    lev[0, 8:12, 8:12] = 2
    m = q.merge_map(f, lev, DEPTH)
    np.testing.assert_allclose(m[0, :, 0, 0], f[0, :, :8, :8].mean(axis=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(m[0, :, 9, 9], f[0, :, 8:12, 8:12].mean(axis=(1, 2)), atol=1e-6)
    np.testing.assert_array_equal(m[0, :, 15, 20], f[0, :, 15, 20])


def test_bad_shapes_and_short_streams_are_refused():
    with pytest.raises(ValueError, match="multiple of the 8x8 window"):
        q.allocate(np.zeros((1, 8, 12, 16), np.float32), DEPTH, 4.0, 100.0, 1.5)
    with pytest.raises(ValueError, match="ended after"):
        q.parse_tree_bits(np.array([1, 0], np.uint8), (8, 8), DEPTH)
    with pytest.raises(ValueError, match="left over"):
        q.parse_tree_bits(np.array([0, 1], np.uint8), (8, 8), DEPTH)


def test_fill_spends_the_stranded_budget_and_only_helps():
    f = _latent(b=4, seed=5)
    for budget in (50.0, 90.0, 200.0):
        lev0, info0 = q.allocate(f, DEPTH, 4.0, budget, 1.0, extra_bits=6, fill=False, coded=False)
        lev1, info1 = q.allocate(f, DEPTH, 4.0, budget, 1.0, extra_bits=6, coded=False)
        assert np.all(info1["symbols"] <= budget) and np.all(info1["symbols"] >= info0["symbols"])
        d0 = ((q.merge_map(f, lev0, DEPTH) - f) ** 2).sum(axis=(1, 2, 3))
        d1 = ((q.merge_map(f, lev1, DEPTH) - f) ** 2).sum(axis=(1, 2, 3))
        assert np.all(d1 <= d0 + 1e-5)
        # what is left is less than the cheapest split
        assert np.all(budget - info1["symbols"] < 3 * 4.0 + 4 * 1.0)
        for s in q.tree_bits(lev1, DEPTH):  # still a valid tree
            assert len(s) > 0
        tokens, bits = q.tree_cost(lev1, DEPTH)
        assert np.allclose(info1["symbols"], tokens * 4.0 + (bits + 6) * 1.0)


def test_flag_code_length_is_the_sequential_kt_code_length():
    """The closed form equals -log2 of the sequential KT probabilities (per level), + 2 bits."""
    f = _latent(b=2, seed=7)
    lev, _ = q.allocate(f, DEPTH, 4.0, 300.0, 1.0, coded=False, groups=np.array([0, 0]))
    counts = q.flag_counts(lev, DEPTH).sum(0)
    rng = np.random.default_rng(0)
    total = 2.0
    for lv in range(DEPTH):
        for c in range(q.N_CONTEXTS):
            seq = rng.permutation(np.repeat([0, 1], counts[lv, c].astype(int)))
            n = np.zeros(2)
            for x in seq:
                total -= np.log2((n[x] + 0.5) / (n.sum() + 1.0))
                n[x] += 1
    assert q.flag_code_bits(counts) == pytest.approx(total, rel=1e-9)
    assert q.flag_code_bits(counts) < counts.sum() + 2 + 3 * np.log2(counts.sum())


def test_coded_flags_buy_tokens_within_the_same_budget():
    f = _latent(b=1, h=64, w=64, seed=2)
    f[:, :, :32] *= 0.05  # a smooth half: skewed flags, cheap to code
    raw_lev, raw = q.allocate(f, DEPTH, 4.0, 2000.0, 2.0, extra_bits=6, coded=False)
    lev, coded = q.allocate(f, DEPTH, 4.0, 2000.0, 2.0, extra_bits=6)
    assert coded["symbols"][0] <= 2000.0 and raw["symbols"][0] <= 2000.0
    assert coded["tokens"][0] > raw["tokens"][0]
    bits = q.flag_code_bits(q.flag_counts(lev, DEPTH).sum(0))
    assert coded["symbols"][0] == pytest.approx(coded["tokens"][0] * 4.0 + (bits + 6) * 2.0)


def test_flag_contexts_are_known_to_the_decoder_first():
    """In the coding order (windows in raster order, nodes depth first in Z order) the left and
    upper neighbours of every visited node come before it, so its context is decodable."""
    f = _latent(b=1, h=32, w=32, seed=4)
    lev, _ = q.allocate(f, DEPTH, 4.0, 500.0, 1.0)
    order = {}

    def visit(i, j, lv):
        if lv == 0:
            return
        order[(lv, i >> lv, j >> lv)] = len(order)
        if lev[0, i:i + (1 << lv), j:j + (1 << lv)].max() < lv:
            h = 1 << (lv - 1)
            for di, dj in ((0, 0), (0, h), (h, 0), (h, h)):
                visit(i + di, j + dj, lv - 1)

    for i in range(0, 32, 8):
        for j in range(0, 32, 8):
            visit(i, j, DEPTH)
    assert len(order) == q.tree_cost(lev, DEPTH)[1][0]
    for (lv, a, b), k in order.items():
        for nb in ((lv, a, b - 1), (lv, a - 1, b)):
            if nb in order:
                assert order[nb] < k


def test_photo_layout_contexts_cross_tile_borders():
    f = np.random.default_rng(6).normal(size=(4, 8, 8, 8)).astype(np.float32)
    f *= np.array([0.01, 0.01, 3.0, 3.0], np.float32)[:, None, None, None]  # top row of tiles smooth
    lev, info = q.allocate(f, DEPTH, 4.0, 80.0, 2.0, groups=np.zeros(4, int), layout=(2, 2))
    whole = q.stitch_levels(lev, (2, 2))
    assert whole.shape == (1, 16, 16)
    assert info["bits"][0] == pytest.approx(q.flag_code_bits(q.flag_counts(whole, DEPTH)[0]))
    with pytest.raises(ValueError, match="single group"):
        q.allocate(f, DEPTH, 4.0, 80.0, 2.0, layout=(2, 2))


def test_repeated_fill_spends_what_a_nearly_merged_coded_tree_strands():
    """One 8x8 window (a 32x32 crop's latent) at 64 symbols, coded flags: the Lagrangian solution
    is the merged root, whose single coded flag (with the coder's 2 termination bits) prices every
    further flag at 3 symbols; one fill pass then stops with a split's worth of symbols unspent.
    The repeated passes price the flags at the grown tree's rate and spend it."""
    rng = np.random.default_rng(3)
    f = np.full((16, 8, 8, 8), 0.3, np.float32)  # flat background ...
    for i in range(16):  # ... and one object of random size and place
        s = int(rng.integers(3, 7))
        a, b = rng.integers(0, 8 - s, 2)
        f[i, :, a:a + s, b:b + s] += rng.normal(size=(8, s, s)).astype(np.float32)
    r, beta, budget = 4.0, 1.0, 64.0
    one, info1 = q.allocate(f, DEPTH, r, budget, beta, extra_bits=6, fill_rounds=1)
    lev, info = q.allocate(f, DEPTH, r, budget, beta, extra_bits=6)
    assert np.all(info["symbols"] <= budget) and not info["over"].any()
    tokens, _ = q.tree_cost(lev, DEPTH)
    assert np.all(tokens >= info1["tokens"]) and tokens.mean() > info1["tokens"].mean() + 1.5
    d1 = ((q.merge_map(f, one, DEPTH) - f) ** 2).sum(axis=(1, 2, 3))
    d = ((q.merge_map(f, lev, DEPTH) - f) ** 2).sum(axis=(1, 2, 3))
    assert np.all(d <= d1 + 1e-5)
    assert (budget - info1["symbols"]).mean() > 3 * r  # one pass strands more than a split
    # what is left now is less than a split of a leaf of level 1 or 2 would cost (tokens + their flags)
    left = budget - info["symbols"]
    cheapest = np.where((lev == 1).any(axis=(1, 2)), 3 * r, 3 * r + 4 * beta)
    assert np.all(left < cheapest + 2 * beta), left  # + the coder's change of length
    assert np.allclose(info["symbols"], tokens * r + info["bits"] * beta)


def _photo(seed=7, t=16):
    """The tiles of a 4x4-tile photo: busy texture, some flat tiles, a few flat 2x2 spots."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(t, 8, 8, 8)).astype(np.float32)
    f[:3] = 0.2 + 0.01 * rng.normal(size=(3, 8, 8, 8))           # sky
    for i in range(3, t, 3):
        f[i, :, 2:4, 4:6] = 0.4                                   # a lone flat spot
    return f


def test_partition_distortion_is_the_merge_error():
    f = _photo()
    for budget in (300.0, 1200.0, 3000.0):
        lev, _ = q.allocate(f, DEPTH, 4.0, budget, 1.5, groups=np.zeros(len(f), int), layout=(4, 4))
        d = q.partition_distortion(q.node_distortion(f, DEPTH), lev)
        assert d == pytest.approx(float(((q.merge_map(f, lev, DEPTH) - f) ** 2).sum()), rel=1e-5)


def test_priced_flags_shorten_the_tree_within_the_budget():
    """Flags priced at their coded length (``entropy_rounds``): the tree the budget buys is
    shorter to send and the photo still fits its budget; ``level_flag_bits`` makes the rare
    decision the expensive one."""
    f = _photo()
    kw = dict(groups=np.zeros(len(f), int), layout=(4, 4))
    budget = 0.97 * len(f) * 64 * 4.0          # just short of every tile whole
    plain, pi = q.allocate(f, DEPTH, 4.0, budget, 2.0, 174, **kw)
    priced, ei = q.allocate(f, DEPTH, 4.0, budget, 2.0, 174, entropy_rounds=2, **kw)
    assert ei["symbols"][0] <= budget and pi["symbols"][0] <= budget
    assert ei["bits"][0] < pi["bits"][0]
    bits = q.level_flag_bits(plain, DEPTH, (4, 4))
    assert bits.shape == (DEPTH, 2) and bits[0, 1] < bits[0, 0]  # level 1: split is the common flag


def test_one_level_per_tile_is_cheap_to_send_and_fits():
    f = _photo()
    budget = 0.9 * len(f) * 64 * 4.0
    lev, info = q.allocate_tile_levels(f, DEPTH, 4.0, budget, 2.0, 174, (4, 4))
    assert not info["over"] and info["symbols"] <= budget
    assert all(len(np.unique(t)) == 1 for t in lev)                # one level per tile
    assert lev[:3].min() == DEPTH and (lev[3:, 0, 0] == 0).mean() >= 0.75  # the sky merged, the texture whole
    assert info["distortion"] == pytest.approx(q.partition_distortion(q.node_distortion(f, DEPTH), lev), rel=1e-6)
    free, fi = q.allocate(f, DEPTH, 4.0, budget, 2.0, 174, groups=np.zeros(len(f), int), layout=(4, 4))
    assert q.flag_code_bits(q.flag_counts(q.stitch_levels(lev, (4, 4)), DEPTH))[0] < fi["bits"][0] - 174
