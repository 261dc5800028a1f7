"""Tiling a photo of any size into the bundle's tiles and stitching it back (pure numpy)."""
import numpy as np
import pytest

from gr_semcod.runtime.tiles import fill_lost, grid_of, stitch, stitch_u8, tile_photo, tile_photo_u8


@pytest.mark.parametrize("hw", [(32, 32), (45, 70), (1, 1), (512, 768), (33, 31)])
def test_u8_round_trip_exact_and_edges_replicated(hw):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    tiles, grid = tile_photo_u8(img, 32)
    assert grid == grid_of(*hw, 32) == (-(-hw[0] // 32), -(-hw[1] // 32))
    assert tiles.shape == (grid[0] * grid[1], 32, 32, 3) and tiles.dtype == np.uint8
    np.testing.assert_array_equal(stitch_u8(tiles, grid, hw), img)
    # tile (r, c) holds rows r*32.. and cols c*32..; the padding repeats the last row / column
    r, c = grid[0] - 1, grid[1] - 1
    last = tiles[r * grid[1] + c]
    np.testing.assert_array_equal(last[:, -1], last[:, min(hw[1] - c * 32, 32) - 1])
    np.testing.assert_array_equal(last[-1], last[min(hw[0] - r * 32, 32) - 1])
    if hw[0] >= 32 and hw[1] >= 64:
        np.testing.assert_array_equal(tiles[1], img[:32, 32:64])


def test_float_layout_matches_u8_layout():
    img = np.random.default_rng(1).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    f, grid = tile_photo(img, 32)
    u, _ = tile_photo_u8(img, 32)
    assert f.shape == (6, 3, 32, 32) and f.dtype == np.float32
    np.testing.assert_allclose(f, u.transpose(0, 3, 1, 2) / 255.0)
    np.testing.assert_allclose(stitch(f, grid, (45, 70)), img / 255.0, atol=1e-7)


def test_stitch_refuses_a_wrong_tile_count():
    with pytest.raises(ValueError, match="5 tiles for a 2 x 3 grid"):
        stitch_u8(np.zeros((5, 32, 32, 3), np.uint8), (2, 3), (64, 96))


def test_fill_lost_uses_the_mean_colour_of_the_received_tiles():
    t = np.zeros((4, 8, 8, 3), np.uint8)
    t[0], t[1], t[2] = (10, 20, 30), (30, 40, 50), (20, 30, 40)
    t[3] = 255
    out = fill_lost(t, np.array([False, False, False, True]))
    np.testing.assert_array_equal(out[3], np.broadcast_to(np.array([20, 30, 40], np.uint8), (8, 8, 3)))
    np.testing.assert_array_equal(out[:3], t[:3])
    assert t[3].min() == 255  # the input is not modified
    np.testing.assert_array_equal(fill_lost(t, np.ones(4, bool)), np.full_like(t, 128))
