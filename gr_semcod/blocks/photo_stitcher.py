#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``photo_stitcher``: decoded tiles PDU -> the photo at its own size.

In: image PDU of ``B`` decoded tiles ``S x S`` (the decoder's output) whose metadata holds
``photo_height`` / ``photo_width`` (from the PHY header or ``photo_tiler``).  When
``ceil(H/S) * ceil(W/S) == B`` the tiles are stitched row-major and cropped to ``H x W``
(:func:`gr_semcod.runtime.tiles.stitch_u8`); out: image PDU ``H*W*3`` with ``height`` = H,
``width`` = W, ``n_tiles`` = B, ``n_lost_tiles`` and ``batch`` removed.

Lost tiles: a tile all of whose symbols were erased (``erasure_mask`` / ``erasures``, one entry per
received symbol, ``B*k``) carries nothing; its decoded pixels are replaced by the mean colour of
the received tiles (:func:`gr_semcod.runtime.tiles.fill_lost`) -- a visible, bounded hole -- and
counted (``n_lost_tiles`` in the metadata, :meth:`n_lost_tiles` in total); the photo is never
dropped for it.  Partly erased tiles are left to the decoder (erasures are zeros at its input).
The per-symbol entries (``erasure_mask``, ``symbol_noise_var``) describe the tiles' symbols, not the
photo, and are removed; ``n_erased`` stays; a per-tile ``snr_db_used`` becomes its mean.

A PDU without a photo size, or whose size disagrees with its tile count (a batch of separate
images), is passed through unchanged.
"""
from __future__ import annotations

import numpy as np
import pmt

from ..contract import (KEY_BATCH, KEY_CHANNELS, KEY_ERASURE_MASK, KEY_ERASURES, KEY_HEIGHT, KEY_N_LOST_TILES,
                        KEY_N_TILES, KEY_SNR_USED, KEY_SYMBOL_NOISE_VAR, KEY_TILE, KEY_WIDTH, PORT_IN, PORT_OUT, PDUError,
                        check_image, erasure_mask, photo_size)
from ..pdu import make_pdu, split_pdu
from ..runtime.tiles import fill_lost, grid_of, stitch_u8
from .base import message_block

#: per-symbol entries of the tiles' PDU, dropped from the photo PDU
PER_SYMBOL_KEYS = (KEY_ERASURE_MASK, KEY_ERASURES, KEY_SYMBOL_NOISE_VAR)


def lost_tiles(meta, b: int, k: int = 0) -> np.ndarray:
    """Bool ``(b,)``: tiles all of whose ``k`` symbols were erased (``erasure_mask`` / ``erasures``
    over the ``b*k`` symbols; ``k = 0``: the PHY's ``erasure_mask`` length says it)."""
    if k <= 0:
        if KEY_ERASURE_MASK not in meta or KEY_ERASURES in meta:
            return np.zeros(b, bool)
        n = int(np.size(meta[KEY_ERASURE_MASK]))
        if n == 0 or n % b:
            raise PDUError(f"metadata {KEY_ERASURE_MASK!r} has {n} entries, not a multiple of the {b} tiles")
        k = n // b
    m = erasure_mask(meta, b * k)
    return np.zeros(b, bool) if m is None else m.reshape(b, k).all(1)


class photo_stitcher(message_block):
    """Args: tile (the bundle's image size S), k (channel symbols per tile; 0: from the
    ``erasure_mask`` length), max_pdu_tiles (tiles one PDU may hold)."""

    def __init__(self, tile=32, k=0, max_pdu_tiles=16384):
        message_block.__init__(self, "semcod_photo_stitcher", {PORT_IN: self.handle}, [PORT_OUT])
        self.tile = int(tile)
        self.k = int(k)
        self.max_pdu_tiles = int(max_pdu_tiles)
        self._lost = 0

    def n_lost_tiles(self) -> int:
        """Tiles filled with the mean colour so far (all photos)."""
        return self._lost

    def handle(self, msg) -> None:
        s = self.tile
        meta, vec = split_pdu(msg, np.uint8, max_items=self.max_pdu_tiles * s * s * 4)
        photo = photo_size(meta)
        c = int(meta.get(KEY_CHANNELS, 3))
        b = check_image(meta, vec.size, (s, s, c), "photo_stitcher")
        if photo is None or photo == (s, s):  # not a tiled photo (bundle-size images, any batch): as it is
            self.message_port_pub(pmt.intern(PORT_OUT), msg)
            self._n_out += 1
            return
        grid = grid_of(*photo, s)
        if grid[0] * grid[1] != b:
            raise PDUError(f"photo_stitcher: {b} tiles of {s}x{s} for a {photo[0]}x{photo[1]} photo, "
                           f"expected {grid[0] * grid[1]} ({grid[0]}x{grid[1]})")
        tiles = vec.reshape(b, s, s, c)
        lost = lost_tiles(meta, b, self.k)
        if lost.any():
            tiles = fill_lost(tiles, lost)
            self._lost += int(lost.sum())
        img = stitch_u8(tiles, grid, photo)
        for key in PER_SYMBOL_KEYS + (KEY_BATCH,):
            meta.pop(key, None)
        if np.size(meta.get(KEY_SNR_USED, 0.0)) > 1:  # one SNR per tile -> the photo's (linear mean, in dB)
            snr_lin = 10.0 ** (np.asarray(meta[KEY_SNR_USED], np.float64) / 10.0)
            meta[KEY_SNR_USED] = float(10.0 * np.log10(np.mean(snr_lin)))
        meta.update({KEY_HEIGHT: photo[0], KEY_WIDTH: photo[1], KEY_CHANNELS: c, KEY_TILE: s, KEY_N_TILES: b,
                     KEY_N_LOST_TILES: int(lost.sum())})
        self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(meta, img))
        self._n_out += 1
