#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``semantic2_decoder``: received symbols PDU of one photo -> photo image PDU, the semantic codec v2.

In: c32 PDU of one photo's equalised symbols (:mod:`~gr_semcod.blocks.semantic2_encoder`'s),
metadata ``photo_height``/``photo_width`` (required: the PHY carries them), ``mode`` (the
side-information scheme; without it every scheme is tried and the head check and tree CRC
tell the right one; 255 = the photo went at the Deep JSCC floor, decoded by the bundle's Deep JSCC of
the rate its length gives), ``snr_db`` / ``noise_var``
(as the other decoders; ``snr_source``), ``symbol_noise_var`` (the PHY's per-symbol noise,
weights the soft side bits) and ``erasures`` / ``erasure_mask`` (lost fragments).
The side information is decoded first (soft Viterbi or LDPC sum-product by the scheme, CRCs; :func:`gr_semcod.runtime.semantic2.decode_photo`);
the tokens go to the codec set of the rate the symbols give, ``N / (3 H W)``
(:func:`gr_semcod.runtime.semantic2.codec_set`: the transmitter of its own at that CBR and its
receiver ``semantic2_decoder@<cbr>`` when the bundle has one, else the shared transmitter and
:func:`~gr_semcod.runtime.semantic2.decoder_role`'s receiver): the encoder picked the same set.
Out: image PDU (u8 ``H*W*3``, ``height``/``width`` = the photo's, ``channels`` = 3) with
``snr_db_used``, ``n_erased``, ``latent_filled`` (latent entries of erased token symbols filled
from their received neighbours, :mod:`gr_semcod.runtime.latent_fill`; ``fill_erasures``) and ``side_info_ok``.  When the side information fails, the photo is
uniform mid-grey, ``side_info_ok`` is False with ``side_info_error`` saying why, and the failure is
counted (:meth:`n_side_failures`), logged and published on ``drop`` (the image sink counts the
photo lost; the grey PDU carries ``fallback`` = "grey", a stand-in): no token is ever placed on an
unchecked tree.  A ``symbol_noise_var`` that is not one positive value per symbol drops the PDU.
"""
from __future__ import annotations

import numpy as np
import pmt

from ..contract import (CODEC_SEMANTIC2, KEY_CHANNELS, KEY_CODEC, KEY_FALLBACK, KEY_HEIGHT, KEY_MODE, KEY_N_ERASED,
                        KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH, KEY_SNR_USED, KEY_SYMBOL_NOISE_VAR, KEY_WIDTH,
                        MAX_RX_SYMBOL_ABS, PORT_IN, PORT_OUT, SNR_SOURCES, PDUError, check_symbols, erasure_mask,
                        image_ids, meta_float, meta_int, snr_from_meta)
from ..pdu import make_pdu, split_pdu
from ..runtime.limits import MAX_PDU_SYMBOLS
from ..runtime.semantic2 import FLOOR_MODE, check_bundle, decode_photo
from ..runtime.side_info import SIDE_MCS
from .base import get_bundle, message_block
from .semantic2_encoder import MAX_PIXELS, photo_dims

KEY_SIDE_OK = "side_info_ok"
KEY_LATENT_FILLED = "latent_filled"  # latent entries of erased token symbols filled from their neighbours
KEY_SIDE_ERROR = "side_info_error"


class semantic2_decoder(message_block):
    """Args: bundle, snr_db (fallback/fixed SNR in dB), snr_source ("metadata" | "noise_var" |
    "fixed"), max_pixels (largest photo accepted), max_symbols (largest PDU), threads, fill_erasures
    (fill the latent entries of erased token symbols from their received neighbours instead of
    decoding them as zeros; :mod:`gr_semcod.runtime.latent_fill`)."""

    def __init__(self, bundle="models/semcod_32", snr_db=10.0, snr_source="metadata", max_pixels=MAX_PIXELS,
                 max_symbols=MAX_PDU_SYMBOLS, threads=1, fill_erasures=True):
        message_block.__init__(self, "semcod_semantic2_decoder", {PORT_IN: self.handle}, [PORT_OUT])
        if snr_source not in SNR_SOURCES:
            raise ValueError(f"snr_source must be one of {SNR_SOURCES}, got {snr_source!r}")
        self.bundle = get_bundle(bundle, threads)
        check_bundle(self.bundle)
        self.snr_db, self.snr_source = float(snr_db), snr_source
        self.max_pixels = int(max_pixels) if int(max_pixels) > 0 else MAX_PIXELS
        self.max_symbols = int(max_symbols) if int(max_symbols) > 0 else MAX_PDU_SYMBOLS
        self.fill_erasures = bool(fill_erasures)
        self._n_side_fail = 0
        self._n_fallback_snr = 0

    def set_snr_db(self, snr_db):
        self.snr_db = float(snr_db)

    def n_side_failures(self) -> int:
        """Photos whose side information failed (delivered as the grey fallback)."""
        return self._n_side_fail

    def n_snr_fallback(self) -> int:
        return self._n_fallback_snr

    def handle(self, msg) -> None:
        meta, z = split_pdu(msg, np.complex64, max_items=self.max_symbols)
        check_symbols(z, "semantic2_decoder: received symbols", MAX_RX_SYMBOL_ABS)
        codec = meta.get(KEY_CODEC)
        if codec is not None and codec != CODEC_SEMANTIC2:
            raise PDUError(f"metadata {KEY_CODEC}={codec!r}, expected {CODEC_SEMANTIC2!r}")
        h, w = photo_dims(meta, ((KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH),), self.max_pixels)
        mode = meta_int(meta, KEY_MODE)
        if mode is not None and not (0 <= mode < len(SIDE_MCS) or mode == FLOOR_MODE):
            raise PDUError(f"metadata {KEY_MODE}={mode}: not a side-information scheme (0..{len(SIDE_MCS) - 1}) "
                           f"nor the Deep JSCC floor ({FLOOR_MODE})")
        image_ids(meta, 1)
        erased = erasure_mask(meta, z.size)
        nv = meta_float(meta, KEY_SYMBOL_NOISE_VAR)
        if nv is not None and (nv.size != z.size or not np.all(np.isfinite(nv) & (nv > 0))):
            low = f" (min {float(np.min(nv)):.3g})" if nv.size else ""
            raise PDUError(f"metadata {KEY_SYMBOL_NOISE_VAR!r} must hold one finite positive value per symbol "
                           f"({z.size}), got {nv.size} values{low}")
        snr, where = snr_from_meta(meta, 1, self.snr_db, self.snr_source)
        if where == "fallback":
            self._n_fallback_snr += 1
        img, info = decode_photo(self.bundle, z, h, w, float(snr[0, 0]), noise_var=nv, erasures=erased, mcs=mode,
                                 fill=self.fill_erasures)
        meta.update({KEY_HEIGHT: h, KEY_WIDTH: w, KEY_CHANNELS: 3, KEY_CODEC: CODEC_SEMANTIC2,
                     KEY_SNR_USED: float(snr[0, 0]), KEY_N_ERASED: 0 if erased is None else int(erased.sum()),
                     KEY_SIDE_OK: bool(info["ok"]), KEY_LATENT_FILLED: int(info.get("latent_filled", 0))})
        meta.pop(KEY_SYMBOL_NOISE_VAR, None)
        if not info["ok"]:
            self._n_side_fail += 1
            meta[KEY_SIDE_ERROR] = info["reason"]
            meta[KEY_FALLBACK] = "grey"  # a stand-in: the image sink shows it and counts the photo lost (drop below)
            self._drop(f"semantic2: {info['reason']}; shown as the grey fallback ({self._n_side_fail} so far)", meta)
        out = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
        self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(meta, out))
        self._n_out += 1
