#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``digital_encoder``: image / photo PDU -> QAM symbols PDU, the digital baseline
(source codec + frame with CRC-32 + IEEE 802.16e LDPC + QAM, :mod:`gr_semcod.baselines.link`).

In: image PDU (u8 ``H*W*3``, one image or photo of any size, ``height``/``width``).
Out: symbols PDU (c32, exactly ``k = round(cbr * H * W * 3)`` symbols, the JSCC codecs' budget,
unit power on the used ones, unused ones zero) with ``cbr``, ``n_symbols``, ``codec`` =
"digital", ``mode`` (the MCS index, carried in the PHY header), ``photo_height``/``photo_width``
(= H/W), ``source_codec`` and ``quality``; other metadata passed through.

The MCS (:data:`gr_semcod.baselines.mcs.MCS_TABLE`) is ``mode`` when >= 0, else the table's
choice for the SNR estimate: the ``snr_db`` parameter, updated by every message on the ``snr``
port (the receiver's estimate fed back: a number, or a dict / PDU metadata with ``snr_db``).
An image for which not even the codec's lowest quality fits is dropped ("no ... fits").
"""
from __future__ import annotations

import numpy as np
import pmt

from ..contract import (CODEC_DIGITAL, KEY_BATCH, KEY_CBR, KEY_CODEC, KEY_HEIGHT, KEY_MODE, KEY_N_SYMBOLS,
                        KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH, KEY_QUALITY, KEY_SNR_DB, KEY_SOURCE_CODEC, KEY_WIDTH,
                        MAX_PHOTO_SIDE, PORT_IN, PORT_OUT, PDUError, meta_int)
from ..pdu import from_pmt, make_pdu, meta_to_python, split_pdu
from ..rates import cbr_text, num_symbols
from .base import message_block
from .photo_tiler import check_photo

PORT_SNR = "snr"


def snr_from_message(msg) -> float:
    """An SNR estimate (dB) from a number, a dict with ``snr_db`` or a PDU whose metadata has it."""
    if pmt.is_pair(msg) and not pmt.is_dict(msg):
        msg = pmt.car(msg)
    if pmt.is_dict(msg):
        v = meta_to_python(msg).get(KEY_SNR_DB)
    elif pmt.is_number(msg):
        v = from_pmt(msg)
    else:
        v = None
    try:
        v = float(np.ravel(np.asarray(v, np.float64))[0])
    except (TypeError, ValueError, IndexError):
        raise PDUError(f"snr message must be a number or carry {KEY_SNR_DB!r}") from None
    if not np.isfinite(v):
        raise PDUError(f"snr message: {KEY_SNR_DB} must be finite, got {v}")
    return v


class digital_encoder(message_block):
    """Args: cbr, source_codec ("jpeg" | "webp" | "avif" | "heif"), snr_db (initial SNR estimate),
    mode (MCS index, -1 = from the SNR estimate), channel (threshold table: "awgn" | "rayleigh"),
    max_side (largest photo side)."""

    def __init__(self, cbr="1/12", source_codec="avif", snr_db=10.0, mode=-1, channel="awgn", max_side=MAX_PHOTO_SIDE):
        message_block.__init__(self, "semcod_digital_encoder", {PORT_IN: self.handle, PORT_SNR: self.handle_snr},
                               [PORT_OUT])
        from ..baselines import mcs, source_codecs

        self.cbr = cbr_text(cbr)
        if source_codec not in source_codecs.CODECS:
            raise ValueError(f"source_codec must be one of {source_codecs.CODECS}, got {source_codec!r}")
        if not source_codecs.available(source_codec):
            raise ValueError(f"source_codec {source_codec!r} is not installed here (pip install pillow-heif; "
                             "Pillow >= 11.3 for avif)")
        self.source_codec = source_codec
        self.table = mcs.mcs_table(channel)
        self.mode = int(mode)
        if self.mode >= len(self.table):
            raise ValueError(f"mode must be -1 or 0..{len(self.table) - 1}, got {mode}")
        self.snr_db = float(snr_db)
        self._n_bad_snr = 0
        self.max_side = int(max_side)
        from ..baselines import link  # noqa: F401  (imports and codes built now, not on the first PDU)

        for m in self.table:
            m.code

    def set_snr_db(self, snr_db):
        self.snr_db = float(snr_db)

    def set_mode(self, mode):
        self.mode = int(mode)

    def current_mcs(self):
        from ..baselines.mcs import select_mcs

        return self.table[self.mode] if self.mode >= 0 else select_mcs(self.snr_db, self.table)

    def handle_snr(self, msg) -> None:
        """A bad SNR report is logged and counted (:meth:`n_bad_snr`), never published on ``drop``:
        it is not an image, and the image sink would count it as one lost."""
        try:
            self.snr_db = snr_from_message(msg)
        except (ValueError, TypeError) as e:  # PDUError included
            self._n_bad_snr += 1
            self._log.warn(f"ignored SNR report ({self._n_bad_snr} so far): {e}")

    def n_bad_snr(self) -> int:
        return self._n_bad_snr

    def handle(self, msg) -> None:
        from ..baselines import link

        meta, vec = split_pdu(msg, np.uint8, max_items=self.max_side * self.max_side * 3)
        if meta_int(meta, KEY_BATCH, 1) != 1:
            raise PDUError(f"digital_encoder: a batch of {meta[KEY_BATCH]} images; send one image or photo per PDU")
        h, w, c = check_photo(meta, vec.size, self.max_side, "digital_encoder")
        if c != 3:
            raise PDUError(f"digital_encoder: {c} channels, expected 3 (RGB)")
        k = num_symbols(self.cbr, h, w)
        m = self.current_mcs()
        sym, info = link.encode_image(vec.reshape(h, w, 3), k, m, self.source_codec)
        if sym is None:
            raise PDUError(f"no {self.source_codec} payload of a {h}x{w} image fits {info['layout'].payload_bytes} "
                           f"bytes ({k} symbols, {m.name})")
        meta.update({KEY_CBR: self.cbr, KEY_N_SYMBOLS: k, KEY_CODEC: CODEC_DIGITAL, KEY_MODE: m.mode,
                     KEY_PHOTO_HEIGHT: h, KEY_PHOTO_WIDTH: w, KEY_HEIGHT: h, KEY_WIDTH: w,
                     KEY_SOURCE_CODEC: self.source_codec, KEY_QUALITY: int(info["quality"])})
        self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(meta, sym.astype(np.complex64)))
        self._n_out += 1
