#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``photo_tiler``: photo PDU of any size -> batch PDU of tiles of the bundle's size.

In: image PDU, ``u8vector`` of ``H*W*C`` bytes (HWC) with ``height``/``width`` (one photo).
Out: image PDU of ``T = ceil(H/S) * ceil(W/S)`` tiles ``S x S`` (edge padded,
:func:`gr_semcod.runtime.tiles.tile_photo_u8`, row-major) with ``batch`` = T, ``height`` =
``width`` = S, ``photo_height`` = H, ``photo_width`` = W, ``tile`` = S, ``n_tiles`` = T; the
photo's ``image_id`` (one int) and every other entry passed through.

A PDU that already is what the encoders take -- one ``S x S`` image, or a ``batch`` of them -- is
passed through unchanged.  A photo larger than ``max_side`` (default 4096) on either side, a byte
count that does not match ``height x width x channels``, or a batch of photos is refused
(logged, counted, ``drop``).
"""
from __future__ import annotations

import numpy as np
import pmt

from ..contract import (KEY_BATCH, KEY_CHANNELS, KEY_HEIGHT, KEY_IMAGE_ID, KEY_N_TILES, KEY_PHOTO_HEIGHT,
                        KEY_PHOTO_WIDTH, KEY_TILE, KEY_WIDTH, MAX_PHOTO_SIDE, PORT_IN, PORT_OUT, PDUError,
                        meta_int)
from ..pdu import make_pdu, split_pdu
from ..runtime.tiles import tile_photo_u8
from .base import message_block


def check_photo(meta, n_bytes: int, max_side: int, what: str = "photo") -> tuple:
    """``(H, W, C)`` of a one-photo image PDU of ``n_bytes``; :class:`PDUError` naming what is wrong."""
    h, w, c = meta_int(meta, KEY_HEIGHT), meta_int(meta, KEY_WIDTH), meta_int(meta, KEY_CHANNELS, 3)
    if h is None or w is None:
        raise PDUError(f"{what}: metadata {KEY_HEIGHT!r}/{KEY_WIDTH!r} missing ({n_bytes} bytes of unknown size)")
    if min(h, w, c) < 1:
        raise PDUError(f"{what}: size {h}x{w}x{c} must be positive")
    if max(h, w) > max_side:
        raise PDUError(f"{what}: {h}x{w} is larger than the limit of {max_side}x{max_side} (parameter max_side)")
    if h * w * c != n_bytes:
        raise PDUError(f"{what}: {n_bytes} bytes, expected {h}x{w}x{c} = {h * w * c} for one photo")
    return h, w, c


class photo_tiler(message_block):
    """Args: tile (the bundle's image size S), max_side (largest photo side accepted, <= 4096)."""

    def __init__(self, tile=32, max_side=MAX_PHOTO_SIDE):
        message_block.__init__(self, "semcod_photo_tiler", {PORT_IN: self.handle}, [PORT_OUT])
        self.tile = int(tile)
        self.max_side = int(max_side)
        if self.tile < 1:
            raise ValueError(f"photo_tiler: tile must be >= 1, got {tile}")
        if not 1 <= self.max_side <= MAX_PHOTO_SIDE:
            raise ValueError(f"photo_tiler: max_side must be in 1..{MAX_PHOTO_SIDE} (the PHY header's field), "
                             f"got {max_side}")

    def handle(self, msg) -> None:
        s = self.tile
        limit = self.max_side * self.max_side * 4  # at most 4 channels: checked before conversion
        meta, vec = split_pdu(msg, np.uint8, max_items=limit)
        h, w = meta_int(meta, KEY_HEIGHT), meta_int(meta, KEY_WIDTH)
        if (h, w) == (s, s) or (h is None and w is None and vec.size % (s * s * 3) == 0):
            self.message_port_pub(pmt.intern(PORT_OUT), msg)  # already tiles of the bundle size
            self._n_out += 1
            return
        if meta_int(meta, KEY_BATCH, 1) != 1:
            raise PDUError(f"photo_tiler: a batch of {meta[KEY_BATCH]} photos of {h}x{w}; send one photo per PDU")
        h, w, c = check_photo(meta, vec.size, self.max_side)
        if isinstance(meta.get(KEY_IMAGE_ID), np.ndarray):
            meta[KEY_IMAGE_ID] = int(np.ravel(meta[KEY_IMAGE_ID])[0])
        tiles, (gh, gw) = tile_photo_u8(vec.reshape(h, w, c), s)
        t = gh * gw
        meta.update({KEY_BATCH: t, KEY_HEIGHT: s, KEY_WIDTH: s, KEY_CHANNELS: c, KEY_PHOTO_HEIGHT: h,
                     KEY_PHOTO_WIDTH: w, KEY_TILE: s, KEY_N_TILES: t})
        self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(meta, tiles))
        self._n_out += 1
