#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``semantic2_encoder``: photo PDU -> ONE channel symbols PDU, the semantic codec v2.

In: photo PDU, u8 ``H*W*3`` (HWC) with ``height``/``width`` (or ``photo_height``/``photo_width``)
metadata, any size up to ``max_pixels``.  The photo is coded as tiles of the bundle's size with
one symbol budget ``round(CBR * H * W * 3)`` shared among them by content
(:func:`gr_semcod.runtime.semantic2.encode_photo`, with the codec set of the CBR:
:func:`~gr_semcod.runtime.semantic2.codec_set`, a transmitter of its own at that rate when the
bundle has one, which the decoder finds again from the symbol count); the quadtree and the power gain travel,
coded (K=7 convolutional or 802.16e LDPC, by SNR and tree length), inside the symbols (and inside
the budget; a photo sent at the floor, below, spends what the Deep JSCC at the CBR spends).
Out: c32 symbols PDU (unit power), metadata ``image_id`` (passed through), ``codec`` =
"semantic2", ``cbr``, ``n_symbols``, ``photo_height``, ``photo_width``, ``mode`` (the
side-information scheme, an index of :data:`gr_semcod.runtime.side_info.SIDE_MCS`, which the PHY
carries in every frame header; :data:`gr_semcod.runtime.semantic2.FLOOR_MODE` for a photo sent at
the floor), ``n_tokens`` and ``side_symbols``.

With ``floor`` (the default; :func:`gr_semcod.runtime.semantic2.encode_auto`) the encoder also
codes the photo with the bundle's Deep JSCC at the CBR, decodes both on a channel draw of its own
at ``snr_db`` (fading when ``fading``) and sends the one that decoded better: merging that does
not pay (e.g. at the base rate) costs nothing.  ``n_floor()`` counts the photos sent at the floor,
``n_gain_clipped()`` those whose token power lay off their codec set's power gain grid.
"""
from __future__ import annotations

import numpy as np
import pmt

from ..contract import (CODEC_SEMANTIC2, KEY_BATCH, KEY_CBR, KEY_CHANNELS, KEY_CODEC, KEY_HEIGHT, KEY_MODE,
                        KEY_N_SYMBOLS, KEY_N_TOKENS, KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH, KEY_WIDTH, MAX_PHOTO_SIDE,
                        PORT_IN, PORT_OUT, PDUError, image_ids, meta_int)
from ..pdu import make_pdu, split_pdu
from ..rates import cbr_text, parse_cbr
from ..runtime.semantic2 import FLOOR_DRAWS, MAX_FLOOR_DRAWS, check_bundle, encode_photo
from .base import get_bundle, message_block

KEY_SIDE_SYMBOLS = "side_symbols"
#: default largest photo, pixels (2048 x 2048; the PHY header carries sides up to MAX_PHOTO_SIDE)
MAX_PIXELS = 2048 * 2048


def photo_dims(meta, keys=((KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH), (KEY_HEIGHT, KEY_WIDTH)), max_pixels=MAX_PIXELS,
               max_side=MAX_PHOTO_SIDE):
    """``(height, width)`` of a photo PDU from the first pair of keys present; :class:`PDUError`
    when absent, not positive, above ``max_pixels`` or with a side above ``max_side``."""
    for kh, kw in keys:
        h, w = meta_int(meta, kh), meta_int(meta, kw)
        if h is None and w is None:
            continue
        if h is None or w is None or h < 1 or w < 1:
            raise PDUError(f"metadata {kh}={h}, {kw}={w}: expected two positive sizes")
        if h * w > max_pixels or max(h, w) > max_side:
            raise PDUError(f"photo {h}x{w}: more than max_pixels={max_pixels} pixels or a side above {max_side}")
        return h, w
    raise PDUError(f"metadata has no {'/'.join(k for pair in keys for k in pair)}: the photo's size is unknown")


class semantic2_encoder(message_block):
    """Args: bundle, cbr (the photo's rate, e.g. "1/48"), snr_db (the SNR the transmitter is told:
    it picks the side-information scheme and prices it in the allocation), max_pixels (largest
    photo accepted), threads (ORT threads), fading (the channel fades: the side-information
    scheme's fading thresholds, :data:`gr_semcod.runtime.side_info.FADING_MIN_SNR_DB`),
    max_side (largest side accepted, at most the PHY header's 4096), floor (send the Deep JSCC at
    the CBR when merging decodes worse on the encoder's own channel draws), floor_draws (at most
    this many of them per photo, each two decodes: :func:`gr_semcod.runtime.semantic2.floor_decision`)."""

    def __init__(self, bundle="models/semcod_32", cbr="1/12", snr_db=10.0, max_pixels=MAX_PIXELS, threads=1,
                 fading=False, max_side=MAX_PHOTO_SIDE, floor=True, floor_draws=FLOOR_DRAWS):
        message_block.__init__(self, "semcod_semantic2_encoder", {PORT_IN: self.handle}, [PORT_OUT])
        self.bundle = get_bundle(bundle, threads)
        check_bundle(self.bundle)  # no semantic v2 in the bundle -> error at construction, not per PDU
        if not 0 < parse_cbr(cbr) <= 1:
            raise ValueError(f"cbr must be in (0, 1], got {cbr!r}")
        self.cbr = cbr_text(cbr)
        self.snr_db = float(snr_db)
        self.fading = bool(fading)
        self.max_pixels = int(max_pixels) if int(max_pixels) > 0 else MAX_PIXELS
        if not 1 <= int(max_side) <= MAX_PHOTO_SIDE:
            raise ValueError(f"max_side must be in 1..{MAX_PHOTO_SIDE}, got {max_side}")
        self.max_side = int(max_side)
        self.mode = "auto" if floor else "photo"
        if not 1 <= int(floor_draws) <= MAX_FLOOR_DRAWS:
            raise ValueError(f"floor_draws must be in 1..{MAX_FLOOR_DRAWS}, got {floor_draws}")
        self.floor_draws = int(floor_draws)
        self._n_over = 0
        self._n_floor = 0
        self._n_gain_clipped = 0

    def n_floor(self) -> int:
        """Photos sent as the Deep JSCC at the CBR (``floor``: merging decoded worse on the
        encoder's own channel draws)."""
        return self._n_floor

    def n_gain_clipped(self) -> int:
        """Photos whose token power lay off their codec set's power gain grid: the grid's edge was
        sent, so the receiver's scale is off by the excess (each logged at debug level)."""
        return self._n_gain_clipped

    def n_over_budget(self) -> int:
        """Photos too small for their CBR: even the coarsest tree plus the side information
        exceeded ``round(CBR*H*W*3)`` (sent anyway; ``n_symbols`` says what they spent)."""
        return self._n_over

    def set_snr_db(self, snr_db):
        self.snr_db = float(snr_db)

    def handle(self, msg) -> None:
        meta, vec = split_pdu(msg, np.uint8, max_items=3 * self.max_pixels)
        h, w = photo_dims(meta, max_pixels=self.max_pixels, max_side=self.max_side)
        if meta_int(meta, KEY_CHANNELS, 3) != 3 or vec.size != h * w * 3:
            raise PDUError(f"photo PDU has {vec.size} bytes, expected {h}x{w}x3 = {h * w * 3} "
                           f"(channels={meta.get(KEY_CHANNELS, 3)})")
        if meta_int(meta, KEY_BATCH, 1) != 1:
            raise PDUError(f"metadata {KEY_BATCH}={meta[KEY_BATCH]}: one photo per PDU")
        image_ids(meta, 1)
        sym, info = encode_photo(self.bundle, vec.reshape(h, w, 3), self.cbr, self.snr_db, mode=self.mode,
                                 fading=self.fading, floor_draws=self.floor_draws)
        self._n_floor += int(bool(info.get("floor")))
        if info.get("gain_clipped"):
            self._n_gain_clipped += 1
            self._log.debug(f"photo {h}x{w} (image_id={meta.get('image_id')}): token power {info['power_db']:.2f} dB "
                            f"off the power gain grid of its codec set ({info.get('codec_set')}): its edge sent")
        if info["over_budget"]:
            self._n_over += 1
            self._log.warn(f"photo {h}x{w} (image_id={meta.get('image_id')}) needs {sym.size} symbols, over its "
                           f"budget of {info['budget']:.0f} at CBR {self.cbr}: sent, n_symbols says so")
        for key in (KEY_HEIGHT, KEY_WIDTH, KEY_CHANNELS, KEY_BATCH):
            meta.pop(key, None)
        meta.update({KEY_CODEC: CODEC_SEMANTIC2, KEY_CBR: self.cbr, KEY_N_SYMBOLS: int(sym.size),
                     KEY_PHOTO_HEIGHT: h, KEY_PHOTO_WIDTH: w, KEY_MODE: int(info["mcs"]),
                     KEY_N_TOKENS: int(info["tokens"]), KEY_SIDE_SYMBOLS: int(info["side_symbols"])})
        self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(meta, sym))
        self._n_out += 1
