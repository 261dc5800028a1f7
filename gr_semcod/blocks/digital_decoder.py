#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``digital_decoder``: received QAM symbols PDU -> image PDU, the digital baseline's receiver.

In: symbols PDU (c32, the image's ``k`` equalised symbols, as the OFDM PHY receiver outputs it).
Metadata read: ``mode`` (the MCS index, from the PHY header; else the ``mode`` parameter),
``photo_height``/``photo_width`` (else ``height``/``width``, else ``size`` x ``size``), the noise
variance -- ``symbol_noise_var`` (one per symbol), else ``noise_var``, else ``snr_db``, else the
``snr_db`` parameter -- and ``erasure_mask`` / ``erasures`` (erased symbols carry no information,
LLR 0).  ``equalizer="mmse"`` undoes the bias of an MMSE equaliser (``x/(1 - v)``, noise
``v/(1 - v)``); the PHY's default is zero-forcing.

Exact LLRs -> 802.16e LDPC sum-product decoding -> CRC-32 -> source payload -> image
(:func:`gr_semcod.baselines.link.decode_image`).  Out: image PDU (u8 ``H*W*3``, ``height``,
``width``, ``channels``, ``photo_height``/``photo_width``, ``codec`` = "digital", ``cbr``,
``mode``, ``quality``, ``snr_db_used``).

A frame that fails (CRC-32 mismatch, or a payload the codec refuses) is never shown as decoded:
it is a *drop* -- logged, counted in :meth:`n_failed` and :meth:`n_dropped`, published on
``drop`` (the image sink counts the image lost) -- and, with ``fallback`` = "mean" (the mean
colour of the images decoded so far, mid grey before the first) or "last" (the last image
decoded, when of the same size), a stand-in image PDU with ``fallback`` set in its metadata
goes out; "none" sends nothing.

Port ``snr``: the receiver's report of every frame, for the transmitter's MCS choice (connect it
to ``digital_encoder``'s ``snr``; :func:`gr_semcod.baselines.link.link_report`): a dict with
``snr_db`` (the PHY's mean estimate, when the PDU has it), ``noise_scale`` (the error of the
re-encoded decoded bits against the reported noise variance: the data-aided check) and
``eff_snr_db`` (the MIESM effective SNR of every MCS, from the per-symbol noise variances so
scaled: it sees the multipath fade the mean SNR hides).
"""
from __future__ import annotations

import numpy as np
import pmt

from ..contract import (CODEC_DIGITAL, KEY_CBR, KEY_CHANNELS, KEY_CODEC, KEY_EFF_SNR_DB, KEY_ERASURE_MASK,
                        KEY_FALLBACK, KEY_HEIGHT, KEY_MODE, KEY_NOISE_SCALE, KEY_NOISE_VAR, KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH, KEY_QUALITY, KEY_SNR_DB,
                        KEY_SNR_USED, KEY_SOURCE_CODEC, KEY_SYMBOL_NOISE_VAR, KEY_WIDTH, MAX_RX_SYMBOL_ABS, PORT_IN,
                        PORT_OUT, PORT_SNR, PDUError, check_symbols, erasure_mask, meta_float, meta_int, photo_size)
from ..pdu import make_pdu, meta_to_pmt, split_pdu
from ..rates import cbr_text, num_symbols
from .base import message_block

FALLBACKS = ("mean", "last", "none")
EQUALIZERS = ("zf", "mmse")
#: noise variance given to an erased symbol (its LLRs are then ~0)
ERASED_NOISE_VAR = 1e12
#: metadata of the PHY that is not passed on with the image (per-symbol vectors)
_PHY_VECTORS = (KEY_SYMBOL_NOISE_VAR, KEY_ERASURE_MASK)


class digital_decoder(message_block):
    """Args: cbr, source_codec, fallback ("mean" | "last" | "none"), mode (MCS index when the
    PDU has none; -1: the PDU must say), snr_db (noise level when the PDU has none), size
    (image side when the PDU has no size), equalizer ("zf" | "mmse"), iters (BP iterations)."""

    def __init__(self, cbr="1/12", source_codec="avif", fallback="mean", mode=-1, snr_db=10.0, size=32,
                 equalizer="zf", iters=50):
        message_block.__init__(self, "semcod_digital_decoder", {PORT_IN: self.handle}, [PORT_OUT, PORT_SNR])
        from ..baselines import mcs, source_codecs

        self.cbr = cbr_text(cbr)
        if source_codec not in source_codecs.CODECS:
            raise ValueError(f"source_codec must be one of {source_codecs.CODECS}, got {source_codec!r}")
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        if equalizer not in EQUALIZERS:
            raise ValueError(f"equalizer must be one of {EQUALIZERS}, got {equalizer!r}")
        self.source_codec, self.fallback, self.equalizer = source_codec, fallback, equalizer
        self.table = mcs.mcs_table("awgn")  # the modes; thresholds are the transmitter's business
        self.mode, self.snr_db, self.size, self.iters = int(mode), float(snr_db), int(size), int(iters)
        self._n_failed = 0
        self._n_reports = 0
        self._n_report_errors = 0
        self._sum_colour = np.zeros(3)
        self._n_good = 0
        self._last = None
        from ..baselines import link  # noqa: F401  (imports and codes built now, not on the first PDU)

        for m in self.table:
            m.code

    def set_snr_db(self, snr_db):
        self.snr_db = float(snr_db)

    def n_failed(self) -> int:
        """Frames that did not decode (CRC-32 mismatch / refused payload)."""
        return self._n_failed

    def n_decoded(self) -> int:
        return self._n_good

    # ------------------------------------------------------------------ metadata
    def _size(self, meta):
        ps = photo_size(meta)
        if ps is not None:
            return ps
        h, w = meta_int(meta, KEY_HEIGHT), meta_int(meta, KEY_WIDTH)
        return (h, w) if h is not None and w is not None else (self.size, self.size)

    def _noise_var(self, meta, k: int) -> np.ndarray:
        nv = meta_float(meta, KEY_SYMBOL_NOISE_VAR)
        if nv is not None and nv.size != k:
            raise PDUError(f"metadata {KEY_SYMBOL_NOISE_VAR!r} has {nv.size} values, expected {k} (one per symbol)")
        if nv is None:
            nv = meta_float(meta, KEY_NOISE_VAR)
        if nv is None:
            snr = meta_float(meta, KEY_SNR_DB)
            nv = 10.0 ** (-(snr if snr is not None else np.array([self.snr_db])) / 10.0)
        if nv.size not in (1, k):
            raise PDUError(f"noise variance metadata has {nv.size} values, expected 1 or {k}")
        if np.any(nv <= 0):
            raise PDUError("noise variance metadata must be > 0")
        return np.broadcast_to(nv, (k,)).astype(np.float64)

    # ------------------------------------------------------------------ handler
    def handle(self, msg) -> None:
        from ..baselines import link
        from ..baselines.mcs import mcs_by_mode

        meta, z = split_pdu(msg, np.complex64)
        check_symbols(z, "digital_decoder symbols", MAX_RX_SYMBOL_ABS)
        h, w = self._size(meta)
        k = num_symbols(self.cbr, h, w)
        if z.size != k:
            raise PDUError(f"digital_decoder: {z.size} symbols, expected {k} for a {h}x{w} image at CBR {self.cbr}")
        mode = meta_int(meta, KEY_MODE, self.mode if self.mode >= 0 else None)
        if mode is None:
            raise PDUError(f"metadata {KEY_MODE!r} (the MCS index) missing and no mode parameter set")
        try:
            m = mcs_by_mode(mode)
        except ValueError as e:
            raise PDUError(f"metadata {KEY_MODE}={mode}: {e}") from None
        nv = self._noise_var(meta, k).copy()
        y = z.astype(np.complex128)
        if self.equalizer == "mmse":  # x_mmse = (1 - v) x + noise: unbias
            a = np.clip(1.0 - nv, 1e-6, None)
            y, nv = y / a, nv / a
        erased = erasure_mask(meta, k)
        if erased is not None:
            y[erased], nv[erased] = 0.0, ERASED_NOISE_VAR
        img, info = link.decode_image(y, nv, h, w, m, self.source_codec, self.iters)
        try:
            self._report(meta, y, nv, info)
        except Exception as e:  # noqa: BLE001 - a failed report must not cost the image
            self._n_report_errors += 1
            self._log.warn(f"no link report for image_id={meta.get('image_id')} "
                           f"({self._n_report_errors} so far): {type(e).__name__}: {e}")
        out = {key: v for key, v in meta.items() if key not in _PHY_VECTORS}
        out.update({KEY_HEIGHT: h, KEY_WIDTH: w, KEY_CHANNELS: 3, KEY_PHOTO_HEIGHT: h, KEY_PHOTO_WIDTH: w,
                    KEY_CODEC: CODEC_DIGITAL, KEY_CBR: self.cbr, KEY_MODE: m.mode,
                    KEY_SOURCE_CODEC: self.source_codec})
        if KEY_SNR_DB in meta:
            out[KEY_SNR_USED] = float(np.ravel(meta[KEY_SNR_DB])[0])
        if img is None:
            self._n_failed += 1
            self._drop(f"digital: {info['reason']} ({m.name}, {k} symbols)", meta)
            stand_in = self._stand_in(h, w)
            if stand_in is not None:
                out[KEY_FALLBACK] = self.fallback
                self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(out, stand_in))
            return
        self._n_good += 1
        self._sum_colour += img.reshape(-1, 3).mean(0)
        self._last = img
        out[KEY_QUALITY] = int(info["quality"])
        self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(out, img))
        self._n_out += 1

    def _report(self, meta, y, nv, info) -> None:
        """Publish the link report on ``snr`` (see the module docstring)."""
        from ..baselines import link

        rep = {}
        if KEY_SNR_DB in meta:
            rep[KEY_SNR_DB] = float(np.ravel(meta[KEY_SNR_DB])[0])
        if "bits" in info:
            try:
                r = link.link_report(y, nv, info["bits"], info["layout"], self.table)
                rep[KEY_NOISE_SCALE] = r["noise_scale"]
                rep[KEY_EFF_SNR_DB] = r["eff_snr_db"].astype(np.float64)
            except ValueError as e:  # every symbol erased: nothing to report on the channel
                self._log.debug(f"no link report: {e}")
        if rep:
            self._n_reports += 1
            self.message_port_pub(pmt.intern(PORT_SNR), meta_to_pmt(rep))

    def n_reports(self) -> int:
        """Link reports published on ``snr``."""
        return self._n_reports

    def n_report_errors(self) -> int:
        """Images decoded whose link report could not be computed (logged; the image is published)."""
        return self._n_report_errors

    def _stand_in(self, h: int, w: int):
        if self.fallback == "none":
            return None
        if self.fallback == "last" and self._last is not None and self._last.shape == (h, w, 3):
            return self._last
        colour = self._sum_colour / self._n_good if self._n_good else np.full(3, 128.0)
        return np.broadcast_to(np.rint(colour).astype(np.uint8), (h, w, 3)).copy()
