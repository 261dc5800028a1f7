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

The MCS (:data:`gr_semcod.baselines.mcs.MCS_TABLE`) is ``mode`` when >= 0, else chosen from
the receiver's report, fed back on the ``snr`` port (connect ``digital_decoder``'s ``snr``): a
dict (or PDU metadata) with ``eff_snr_db``, the frame's MIESM effective SNR per MCS
(:mod:`gr_semcod.baselines.esm`; it accounts for frequency-selective fading and for the measured
excess of the error over the reported noise), against the AWGN thresholds (which carry their
measured margin, ``semcod bench mcs``) plus ``margin_db`` (default 0).
Until the first report arrives (or when a report carries only ``snr_db`` / is a number) the SNR
estimate is ``snr_db`` (the parameter, then the last report) against the ``channel`` table.
A bad report is logged and counted (:meth:`n_bad_snr`); good ones are counted
(:meth:`n_reports`); every change of MCS is logged with the SNR that caused it.  In a split
flowgraph the reports come over ZMQ instead: ``report_address`` is bound while the flowgraph
runs and the receiver's ``zmq_msg_sink`` connects to it (:mod:`gr_semcod.blocks.zmq_msg_pull`;
loopback by default, CurveZMQ with the ``SEMCOD_ZMQ_*`` keys otherwise, this end the server).
``wait_first_report`` (seconds, default 0 = do not wait): the first image waits up to that long
for a receiver report before it is coded at ``snr_db`` -- e.g. a restarted transmitter whose
receiver's ``zmq_msg_sink`` has queued its reports, or a receiver already reporting other
traffic; a wait that ends without one is logged and counted (:meth:`n_report_timeouts`).
Reports on the ``snr`` port are taken during the wait too.  Only the first image waits.
An image for which not even the codec's lowest quality fits is dropped ("no ... fits").
"""
from __future__ import annotations

import threading

import numpy as np
import pmt

from ..contract import (CODEC_DIGITAL, KEY_BATCH, KEY_CBR, KEY_CODEC, KEY_EFF_SNR_DB, KEY_HEIGHT, KEY_MODE,
                        KEY_N_SYMBOLS, KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH, KEY_QUALITY, KEY_SNR_DB, KEY_SOURCE_CODEC,
                        KEY_WIDTH, MAX_PHOTO_SIDE, PORT_IN, PORT_OUT, PORT_SNR, PDUError, meta_int)
from ..pdu import from_pmt, make_pdu, meta_to_python, split_pdu
from ..rates import cbr_text, num_symbols
from .base import message_block
from .photo_tiler import check_photo

__all__ = ["digital_encoder", "report_from_message", "snr_from_message", "PORT_SNR"]


def report_from_message(msg, n_modes: int):
    """``(snr_db or None, eff_snr_db (n_modes,) or None)`` of a receiver report: a number, or a
    dict / PDU metadata with ``snr_db`` and/or ``eff_snr_db`` (one per MCS)."""
    if pmt.is_pair(msg) and not pmt.is_dict(msg):
        msg = pmt.car(msg)
    if pmt.is_dict(msg):
        d = meta_to_python(msg)
    elif pmt.is_number(msg):
        d = {KEY_SNR_DB: from_pmt(msg)}
    else:
        d = {}
    snr, eff = d.get(KEY_SNR_DB), d.get(KEY_EFF_SNR_DB)
    if snr is None and eff is None:
        raise PDUError(f"snr message must be a number or carry {KEY_SNR_DB!r} / {KEY_EFF_SNR_DB!r}")
    try:
        snr = None if snr is None else float(np.ravel(np.asarray(snr, np.float64))[0])
        eff = None if eff is None else np.asarray(eff, np.float64).ravel()
    except (TypeError, ValueError, IndexError):
        raise PDUError(f"snr message: {KEY_SNR_DB} / {KEY_EFF_SNR_DB} must be numbers") from None
    if snr is not None and not np.isfinite(snr):
        raise PDUError(f"snr message: {KEY_SNR_DB} must be finite, got {snr}")
    if eff is not None and (eff.size != n_modes or not np.all(np.isfinite(eff))):
        raise PDUError(f"snr message: {KEY_EFF_SNR_DB} must be {n_modes} finite values (one per MCS), got {eff}")
    return snr, eff


def snr_from_message(msg) -> float:
    """An SNR estimate (dB) from a number, a dict with ``snr_db`` or a PDU whose metadata has it."""
    from ..baselines.mcs import MCS_TABLE

    snr, _ = report_from_message(msg, len(MCS_TABLE))
    if snr is None:
        raise PDUError(f"snr message must be a number or carry {KEY_SNR_DB!r}")
    return snr


class digital_encoder(message_block):
    """Args: cbr, source_codec ("jpeg" | "webp" | "avif" | "heif"), snr_db (initial SNR estimate),
    mode (MCS index, -1 = from the SNR estimate), channel (threshold table of ``snr_db``: "awgn" |
    "rayleigh"), max_side (largest photo side), margin_db (dB added to the AWGN thresholds when
    choosing from a report's effective SNR), report_address (ZMQ endpoint bound for the
    receiver's reports, "" = only the ``snr`` port), wait_first_report (s the first image waits
    for a report, 0 = none)."""

    def __init__(self, cbr="1/12", source_codec="avif", snr_db=10.0, mode=-1, channel="awgn", max_side=MAX_PHOTO_SIDE,
                 margin_db=0.0, report_address="", wait_first_report=0.0):
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
        if channel not in ("awgn", "rayleigh"):  # the multipath row is in effective SNR: for reports only
            raise ValueError(f"channel (the table of the snr_db estimate) must be awgn or rayleigh, got {channel!r}")
        self.table = mcs.mcs_table(channel)
        self.eff_table = mcs.mcs_table("awgn")  # MIESM maps a report to AWGN-equivalent SNRs
        self.margin_db = float(margin_db)
        self.eff_snr_db = None  # the last report's effective SNRs (one per MCS)
        self._n_reports = 0
        self._last_mcs = None
        self.mode = int(mode)
        if self.mode >= len(self.table):
            raise ValueError(f"mode must be -1 or 0..{len(self.table) - 1}, got {mode}")
        self.snr_db = float(snr_db)
        self._n_bad_snr = 0
        self.max_side = int(max_side)
        from ..baselines import link  # noqa: F401  (imports and codes built now, not on the first PDU)

        for m in self.table:
            m.code
        self._lock = threading.Lock()  # reports may come from the ZMQ thread
        self.wait_first_report = float(wait_first_report)
        if not self.wait_first_report >= 0:
            raise ValueError(f"wait_first_report must be >= 0 seconds, got {wait_first_report}")
        self._report = threading.Event()  # set by the first good report
        self._waited = False
        self._n_report_timeouts = 0
        self.puller = None
        if report_address and str(report_address) != "None":  # GRC renders an unset string parameter "None"
            from .zmq_msg_pull import MessagePuller

            self.puller = MessagePuller(report_address, self.handle_snr, self._log)

    def start(self):
        if self.puller is not None:
            self.puller.start()
        return message_block.start(self)

    def stop(self):
        if self.puller is not None:
            self.puller.stop()
        return message_block.stop(self)

    def set_snr_db(self, snr_db):
        self.snr_db = float(snr_db)

    def set_mode(self, mode):
        self.mode = int(mode)

    def set_margin_db(self, margin_db):
        self.margin_db = float(margin_db)

    def current_mcs(self):
        return self._choose_mcs()[0]

    def _choose_mcs(self):
        """``(mcs, why)``: the MCS for the next image and, in words, what chose it -- from one
        snapshot of the last report (a report may arrive on another thread meanwhile)."""
        from ..baselines.mcs import select_mcs

        if self.mode >= 0:
            return self.table[self.mode], "fixed mode"
        with self._lock:
            eff, snr, n = self.eff_snr_db, self.snr_db, self._n_reports
        if eff is not None:
            m = select_mcs(eff, self.eff_table, self.margin_db)
            return m, f"receiver report {n}: effective SNR {eff[m.mode]:.1f} dB for {m.name}"
        return select_mcs(snr, self.table), f"SNR estimate {snr:.1f} dB"

    def handle_snr(self, msg) -> None:
        """A receiver report (see the module docstring).  A bad one is logged and counted
        (:meth:`n_bad_snr`), never published on ``drop``: it is not an image, and the image sink
        would count it as one lost."""
        try:
            snr, eff = report_from_message(msg, len(self.eff_table))
        except Exception as e:  # noqa: BLE001 - any bad report is counted here, never published on drop
            with self._lock:  # the ZMQ thread and the handler (during a first-report wait) both count
                self._n_bad_snr += 1
                n = self._n_bad_snr
            self._log.warn(f"ignored SNR report ({n} so far): {e}")
            return
        with self._lock:
            if snr is not None:
                self.snr_db = snr
            self.eff_snr_db = eff  # a report without effective SNRs falls back to snr_db
            self._n_reports += 1
        self._report.set()

    def n_bad_snr(self) -> int:
        return self._n_bad_snr

    def n_reports(self) -> int:
        """Receiver reports taken (the MCS follows the last one)."""
        return self._n_reports

    def n_report_timeouts(self) -> int:
        """First images coded at ``snr_db`` because no report came within ``wait_first_report``."""
        return self._n_report_timeouts

    def _wait_first_report(self, meta) -> None:
        """Before the first image: wait up to ``wait_first_report`` s for a report (ZMQ thread or
        this block's own ``snr`` queue, which this handler's thread would otherwise not serve).
        The wait runs in the message handler: a flowgraph stopped meanwhile stops once it ends."""
        import time

        self._waited = True
        if self.wait_first_report <= 0 or self.mode >= 0 or self._report.is_set():
            return
        port = pmt.intern(PORT_SNR)
        deadline = time.monotonic() + self.wait_first_report
        while not self._report.is_set():
            m = self.delete_head_nowait(port)
            if m is not None:
                self.handle_snr(m)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                self._n_report_timeouts += 1
                self._log.warn(f"no receiver report within wait_first_report={self.wait_first_report:g} s: "
                               f"image_id={meta.get('image_id')} goes at the SNR estimate {self.snr_db:.1f} dB")
                return
            self._report.wait(min(left, 0.01))

    def handle(self, msg) -> None:
        from ..baselines import link

        meta, vec = split_pdu(msg, np.uint8, max_items=self.max_side * self.max_side * 3)
        if meta_int(meta, KEY_BATCH, 1) != 1:
            raise PDUError(f"digital_encoder: a batch of {meta[KEY_BATCH]} images; send one image or photo per PDU")
        h, w, c = check_photo(meta, vec.size, self.max_side, "digital_encoder")
        if c != 3:
            raise PDUError(f"digital_encoder: {c} channels, expected 3 (RGB)")
        k = num_symbols(self.cbr, h, w)
        if not self._waited:
            self._wait_first_report(meta)
        m, src = self._choose_mcs()
        if m is not self._last_mcs:
            self._log.info(f"MCS {m.name} from image_id={meta.get('image_id')} ({src})")
            self._last_mcs = m
        sym, info = link.encode_image(vec.reshape(h, w, 3), k, m, self.source_codec)
        if sym is None:
            raise PDUError(f"no {self.source_codec} payload of a {h}x{w} image fits {info['layout'].payload_bytes} "
                           f"bytes ({k} symbols, {m.name})")
        meta.update({KEY_CBR: self.cbr, KEY_N_SYMBOLS: k, KEY_CODEC: CODEC_DIGITAL, KEY_MODE: m.mode,
                     KEY_PHOTO_HEIGHT: h, KEY_PHOTO_WIDTH: w, KEY_HEIGHT: h, KEY_WIDTH: w,
                     KEY_SOURCE_CODEC: self.source_codec, KEY_QUALITY: int(info["quality"])})
        self.message_port_pub(pmt.intern(PORT_OUT), make_pdu(meta, sym.astype(np.complex64)))
        self._n_out += 1
