"""The quadtree flags as a real arithmetic-coded bit stream (gr_semcod.runtime.flag_coder)."""
import numpy as np
import pytest

from gr_semcod.runtime import quadtree
from gr_semcod.runtime.flag_coder import decode_flags, encode_flags


def _photo_levels(rows, cols, budget_per_tile, seed=0):
    rng = np.random.default_rng(seed)
    t = rows * cols
    f = rng.standard_normal((t, 8, 8, 8)).astype(np.float32) * np.linspace(0.05, 3, t)[:, None, None, None]
    lev, _ = quadtree.allocate(f, 3, 4.0, budget_per_tile * t, 2.0, 6, groups=np.zeros(t, np.int64),
                               layout=(rows, cols))
    return quadtree.stitch_levels(lev, (rows, cols))[0]


@pytest.mark.parametrize("rows,cols,per_tile", [(1, 1, 20), (2, 3, 60), (6, 9, 40), (6, 9, 150), (12, 20, 90)])
def test_round_trip_and_length_is_the_charged_kt_length(rows, cols, per_tile):
    lev = _photo_levels(rows, cols, per_tile)
    bits = encode_flags(lev, 3)
    back, read = decode_flags(bits, lev.shape, 3)
    np.testing.assert_array_equal(back, lev)
    ideal = float(quadtree.flag_code_bits(quadtree.flag_counts(lev[None], 3))[0])  # what allocate charges
    raw = float(quadtree.tree_cost(lev[None], 3)[1][0])
    assert ideal - 2.5 <= bits.size <= ideal + 2.0  # integer coder: within its termination bits
    if raw > 100:
        assert bits.size < raw  # the contexts pay off against one bit per flag


def test_extreme_trees():
    for fill in (0, 3):  # everything split / everything merged
        lev = np.full((16, 24), fill, np.uint8)
        bits = encode_flags(lev, 3)
        assert bits.size < 0.25 * quadtree.tree_cost(lev[None], 3)[1][0] + 4
        np.testing.assert_array_equal(decode_flags(bits, lev.shape, 3)[0], lev)


def test_a_flipped_bit_changes_the_tree():
    """The stream carries no redundancy: the caller's CRC is what catches errors."""
    lev = _photo_levels(4, 4, 80)
    bits = encode_flags(lev, 3)
    bad = bits.copy()
    bad[len(bad) // 3] ^= 1
    assert not np.array_equal(decode_flags(bad, lev.shape, 3)[0], lev)


def test_shape_must_be_whole_windows():
    with pytest.raises(ValueError, match="multiple of the 8x8 window"):
        encode_flags(np.zeros((12, 16), np.uint8), 3)
