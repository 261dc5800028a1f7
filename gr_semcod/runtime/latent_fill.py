"""Receiver-side fill of erased latent entries (a lost PHY fragment) from their neighbours.

A lost fragment leaves some token symbols unknown.  Decoding them as zeros puts values the
synthesis never saw in training on a contiguous run of tokens (a block of tiles), which the
decoder turns into visible artefacts.  Instead, every unknown entry of the photo's latent grid
(tiles stitched back, so the fill crosses tile borders) is estimated by normalised convolution::

    x <- a_c (K * (m x)) / (K * m)   on unknown entries with  K * m > 0,   m <- 1 there

with ``K`` the 3 x 3 box, repeated until every entry is known: each pass grows the known region
by one position, so a hole is filled from its rim inwards with the mean of its known neighbours,
scaled by ``a_c`` (:func:`neighbour_gain`: the channel's least-squares predictor gain from the
neighbour mean, fitted on the photo's own received latent -- ~1 on smooth content, ~0 where the
latent is uncorrelated and zero, the prior mean, is the better guess; deep inside a large hole
the estimate decays towards zero).  Known entries are never changed.  A photo with nothing
received stays zero.  numpy only.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

__all__ = ["fill_erased", "neighbour_gain"]


def _box3(x: np.ndarray) -> np.ndarray:
    """Sum over each entry's 3 x 3 neighbourhood of the last two axes (zero outside)."""
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)])
    h, w = x.shape[-2:]
    return sum(p[..., i:i + h, j:j + w] for i in range(3) for j in range(3))


def _stitch(t: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """Tiles ``(T, c, h, w)`` in raster order -> ``(c, gh h, gw w)``."""
    gh, gw = grid
    n, c, h, w = t.shape
    return t.reshape(gh, gw, c, h, w).transpose(2, 0, 3, 1, 4).reshape(c, gh * h, gw * w)


def _unstitch(x: np.ndarray, grid: Tuple[int, int], hw: Tuple[int, int]) -> np.ndarray:
    gh, gw = grid
    h, w = hw
    c = x.shape[0]
    return x.reshape(c, gh, h, gw, w).transpose(1, 3, 0, 2, 4).reshape(gh * gw, c, h, w)


def _shift(x: np.ndarray, di: int, dj: int, fill=0) -> np.ndarray:
    """``out[..., i, j] = x[..., i + di, j + dj]`` (``fill`` outside)."""
    h, w = x.shape[-2:]
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], constant_values=fill)
    return p[..., 1 + di:1 + di + h, 1 + dj:1 + dj + w]


def neighbour_gain(x: np.ndarray, m: np.ndarray, leaf: Optional[np.ndarray] = None) -> np.ndarray:
    """Per channel, the least-squares gain ``a`` of the predictor ``x_p ~ a * mean(x_q)`` over the
    received 8-neighbours ``q`` of received ``p`` that lie in another leaf (``leaf``: ``(H, W)``
    ids; positions of one merged token are copies and say nothing), clipped to [0, 1]: about 1
    where the latent is smooth, about 0 where it is uncorrelated (then zero, the prior mean, is
    the better guess).  ``x``, ``m``: ``(c, H, W)``."""
    leaf = np.arange(m[0].size).reshape(m.shape[1:]) if leaf is None else np.asarray(leaf)
    ring = np.zeros_like(x)
    cnt = np.zeros_like(x)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                other = (_shift(leaf, di, dj, -1) != leaf)[None]
                mq = _shift(m, di, dj) * other
                ring += _shift(x, di, dj) * mq
                cnt += mq
    ok = (m > 0) & (cnt > 0)
    nb = ring / np.maximum(cnt, 1)
    num = np.where(ok, x * nb, 0).sum(axis=(1, 2))
    den = np.where(ok, nb * nb, 0).sum(axis=(1, 2))
    return np.clip(np.where(den > 0, num / np.maximum(den, 1e-30), 0.0), 0.0, 1.0)


def fill_erased(latent: np.ndarray, known: np.ndarray, grid: Tuple[int, int],
                leaf: Optional[np.ndarray] = None) -> np.ndarray:
    """``latent`` ``(T, c, h, w)`` (tiles in raster order over ``grid = (gh, gw)``), ``known`` a
    bool mask of the same shape -> a new latent whose unknown entries are filled from their known
    neighbours (module docstring).  ``leaf`` ``(T, h, w)``: the id of the token each position
    copies (merged tokens span several); default: every position its own.  ``T = gh * gw``."""
    latent = np.asarray(latent, np.float32)
    known = np.asarray(known, bool)
    if known.shape != latent.shape:
        raise ValueError(f"mask shape {known.shape} differs from the latent's {latent.shape}")
    if latent.shape[0] != grid[0] * grid[1]:
        raise ValueError(f"{latent.shape[0]} tiles for a {grid[0]} x {grid[1]} grid")
    if known.all():
        return latent.copy()
    if not known.any():  # nothing received: zero (the prior mean) everywhere
        return np.zeros_like(latent)
    x = _stitch(np.where(known, latent, 0), grid).astype(np.float64)
    m = _stitch(known, grid).astype(np.float64)
    ids = None if leaf is None else _stitch(np.asarray(leaf)[:, None], grid)[0]
    a = neighbour_gain(x, m, ids)[:, None, None]
    while True:
        todo = m == 0
        if not todo.any():
            break
        den = _box3(m)
        new = todo & (den > 0)
        if not new.any():  # a channel with nothing received anywhere: stays zero
            break
        num = _box3(x * m)
        x[new] = (a * num / np.maximum(den, 1))[new]
        m[new] = 1.0
    return _unstitch(x.astype(np.float32), grid, latent.shape[-2:])
