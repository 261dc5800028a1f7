"""A photo of any size as tiles of the bundle's size, and back (pure numpy).

A ``H x W x 3`` photo is padded by edge replication to whole tiles of ``S x S``
(``rows = ceil(H / S)``, ``cols = ceil(W / S)``), cut into ``T = rows * cols`` tiles in row-major
order, and stitched back by the inverse reshape, the padding cropped away::

    padded[r S + i, c S + j] = tile[r cols + c][i, j]

Two layouts: float NCHW in ``[0, 1]`` (:func:`tile_photo` / :func:`stitch`, the evaluation's) and
u8 HWC (:func:`tile_photo_u8` / :func:`stitch_u8`, the radio's image PDUs).  :func:`fill_lost`
puts the mean colour of the received tiles into the tiles that never arrived (a bounded hole).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["grid_of", "pad_photo", "tile_photo", "stitch", "tile_photo_u8", "stitch_u8", "fill_lost"]


def grid_of(height: int, width: int, tile: int) -> Tuple[int, int]:
    """``(rows, cols)`` of ``tile x tile`` tiles covering ``height x width``."""
    return -(-int(height) // int(tile)), -(-int(width) // int(tile))


def pad_photo(img: np.ndarray, tile: int) -> Tuple[np.ndarray, Tuple[int, int]]:
    """``H x W x C`` -> edge-padded ``rows S x cols S x C`` (same dtype) and the grid."""
    h, w = img.shape[:2]
    gh, gw = grid_of(h, w, tile)
    return np.pad(img, ((0, gh * tile - h), (0, gw * tile - w), (0, 0)), mode="edge"), (gh, gw)


def tile_photo_u8(img: np.ndarray, tile: int) -> Tuple[np.ndarray, Tuple[int, int]]:
    """uint8 ``H x W x C`` -> tiles ``(T, S, S, C)`` (HWC, edge-padded) and the grid ``(rows, cols)``."""
    x, (gh, gw) = pad_photo(np.asarray(img), tile)
    c = x.shape[2]
    t = x.reshape(gh, tile, gw, tile, c).transpose(0, 2, 1, 3, 4).reshape(gh * gw, tile, tile, c)
    return np.ascontiguousarray(t), (gh, gw)


def stitch_u8(tiles: np.ndarray, grid: Tuple[int, int], hw: Tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`tile_photo_u8`: ``(T, S, S, C)`` -> ``H x W x C``, padding cropped."""
    gh, gw = grid
    t, s, _, c = tiles.shape
    if t != gh * gw:
        raise ValueError(f"{t} tiles for a {gh} x {gw} grid")
    x = tiles.reshape(gh, gw, s, s, c).transpose(0, 2, 1, 3, 4).reshape(gh * s, gw * s, c)
    return np.ascontiguousarray(x[:hw[0], :hw[1]])


def tile_photo(img: np.ndarray, tile: int) -> Tuple[np.ndarray, Tuple[int, int]]:
    """uint8 ``H x W x 3`` -> float tiles ``(T, 3, S, S)`` in ``[0, 1]`` (edge-padded), and the grid."""
    t, grid = tile_photo_u8(img, tile)
    return np.ascontiguousarray(t.transpose(0, 3, 1, 2).astype(np.float32) / 255.0), grid


def stitch(tiles: np.ndarray, grid: Tuple[int, int], hw: Tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`tile_photo`: ``(T, 3, S, S)`` -> ``H x W x 3`` float, padding cropped."""
    return stitch_u8(np.asarray(tiles).transpose(0, 2, 3, 1), grid, hw)


def fill_lost(tiles: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """Tiles ``(T, S, S, C)`` with every ``lost`` tile (bool ``T``) set to the mean colour of the
    others (mid-grey when none arrived); returns a new array."""
    lost = np.asarray(lost, bool)
    out = np.array(tiles, copy=True)
    if not lost.any():
        return out
    ok = ~lost
    mean = (tiles[ok].reshape(-1, tiles.shape[-1]).mean(0) if ok.any()
            else np.full(tiles.shape[-1], 127.5))
    out[lost] = np.round(mean).astype(tiles.dtype) if tiles.dtype.kind in "iu" else mean
    return out
