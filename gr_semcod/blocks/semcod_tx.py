#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``semcod_tx``: photo (image PDU of any size) -> channel symbols PDU (hier block).

Tiled codecs: ``photo_tiler`` cuts the photo into tiles of the bundle's size (edge padded; a PDU
that already is one bundle-size image or a batch of them passes unchanged), then
``codec="semantic"``: semantic_encoder -> jscc_encoder@cbr; ``codec="deepjscc"``: the Deep JSCC
baseline encoder@cbr;  ``codec="digital"``: the digital baseline on the whole photo
(``source_codec`` + CRC-32 + 802.16e LDPC + QAM, MCS from ``snr_db`` or ``mode``; no bundle needed).  All tiles of a photo are one PDU (one ``image_id``, T*k symbols, one
batched ONNX Runtime call per ``max_run_batch`` tiles).  Ports: ``in`` (image PDU), ``out`` (c32
symbols PDU, unit power per tile, ``image_id``/``cbr``/``n_symbols``/``codec`` and
``photo_height``/``photo_width`` metadata), ``drop`` (drops of the inner blocks), ``snr`` (in: the
receiver's link report fed back, ``semcod_rx``'s ``snr``; the digital codec chooses its MCS from
it, ``snr_db`` being only the value until the first report; other codecs ignore it).  In a split
flowgraph the reports come to ``report_address`` (bound here) from the receiver's ``zmq_msg_sink``.

The codec is chosen by :func:`encoder_stages`, one small branch per codec.
"""
from __future__ import annotations

from gnuradio import gr

from ..contract import (CODEC_DEEPJSCC, CODEC_DIGITAL, CODEC_SEMANTIC, CODEC_SEMANTIC2, CODECS, MAX_PHOTO_SIDE,
                        PORT_DROP, PORT_IN, PORT_OUT, PORT_SNR)
from .deepjscc_encoder import deepjscc_encoder
from .jscc_encoder import jscc_encoder
from .photo_tiler import photo_tiler
from .semantic2_encoder import semantic2_encoder
from .semantic_encoder import semantic_encoder


def not_available(codec: str, where: str = "this bundle/build") -> ValueError:
    return ValueError(f"codec {codec!r} is not available in {where} (available: {', '.join(CODECS[:2])})")


def encoder_stages(codec, bundle, cbr, normalize, threads, max_side, source_codec="avif", snr_db=10.0, mode=-1,
                   report_address="", wait_first_report=0.0, floor=True):
    """The chain of blocks of ``codec``, photo PDU in, symbols PDU out."""
    if codec == CODEC_SEMANTIC:
        coder = [semantic_encoder(bundle, threads), jscc_encoder(bundle, cbr, normalize, threads)]
        return [photo_tiler(coder[0].item_dims[1], max_side)] + coder  # item_dims: (C, S, S)
    if codec == CODEC_DEEPJSCC:
        coder = [deepjscc_encoder(bundle, cbr, normalize, threads)]
        return [photo_tiler(coder[0].item_dims[1], max_side)] + coder
    if codec == CODEC_SEMANTIC2:  # takes the photo whole (rate shared across the photo, side info inside)
        return [semantic2_encoder(bundle, cbr, snr_db, threads=threads, max_side=max_side, floor=floor)]
    if codec == CODEC_DIGITAL:  # takes the photo whole (whole-photo source coding)
        from .digital_encoder import digital_encoder

        return [digital_encoder(cbr, source_codec, snr_db, mode, max_side=max_side, report_address=report_address,
                                wait_first_report=wait_first_report)]
    raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")


class semcod_tx(gr.hier_block2):
    """Args: bundle, cbr, codec (one of ``contract.CODECS``), normalize (unit power per tile),
    threads (ORT threads per model), max_side (largest photo side accepted, default 4096),
    snr_db (semantic2: the SNR the transmitter is told, it picks and prices the side information;
    digital: the SNR estimate the MCS is chosen for until the first report); digital: source_codec,
    mode (MCS index, -1 = from snr_db / the reports), report_address (ZMQ endpoint of the
    receiver's link reports in a split flowgraph, "" = the ``snr`` port only), wait_first_report
    (s the first photo waits for a report before it falls back to ``snr_db``; 0 = no wait); semantic2:
    floor (send the Deep JSCC at the CBR when merging decodes worse on the encoder's own channel draws)."""

    def __init__(self, bundle="models/semcod_32", cbr="1/12", codec=CODEC_SEMANTIC, normalize=True, threads=1,
                 max_side=MAX_PHOTO_SIDE, source_codec="avif", snr_db=10.0, mode=-1, report_address="",
                 wait_first_report=0.0, floor=True):
        gr.hier_block2.__init__(self, "semcod_tx", gr.io_signature(0, 0, 0), gr.io_signature(0, 0, 0))
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
        self.codec = codec
        self.stages = encoder_stages(codec, bundle, cbr, normalize, threads, max_side, source_codec, snr_db, mode,
                                     report_address, wait_first_report, floor)
        for port in (PORT_IN, PORT_SNR):
            self.message_port_register_hier_in(port)
        for port in (PORT_OUT, PORT_DROP):
            self.message_port_register_hier_out(port)
        self.msg_connect(self, PORT_IN, self.stages[0], PORT_IN)
        if codec == CODEC_DIGITAL:  # the receiver's report -> the MCS of the next photo
            self.msg_connect(self, PORT_SNR, self.stages[-1], PORT_SNR)
        for a, b in zip(self.stages[:-1], self.stages[1:]):
            self.msg_connect(a, PORT_OUT, b, PORT_IN)
        self.msg_connect(self.stages[-1], PORT_OUT, self, PORT_OUT)
        for s in self.stages:
            self.msg_connect(s, PORT_DROP, self, PORT_DROP)
        self.n_symbols = getattr(self.stages[-1], "n_symbols", None)  # semantic2, digital: set per photo

    def set_snr_db(self, snr_db):
        """The SNR estimate the digital codec chooses its MCS from (other codecs: no effect)."""
        if hasattr(self.stages[-1], "set_snr_db"):
            self.stages[-1].set_snr_db(snr_db)

    def n_dropped(self):
        return sum(s.n_dropped() for s in self.stages)

    def n_processed(self):
        return self.stages[-1].n_processed()

    def busy_seconds(self):
        return sum(s.busy_seconds() for s in self.stages)
