#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``semcod_tx``: image PDU -> channel symbols PDU (hier block).

``codec="semantic"``: semantic_encoder -> jscc_encoder@cbr;  ``codec="deepjscc"``: the Deep JSCC
baseline encoder@cbr;  ``codec="digital"``: the digital baseline (``source_codec`` + CRC-32 +
802.16e LDPC + QAM, MCS from ``snr_db`` or ``mode``; no bundle needed).  Ports: ``in`` (image PDU), ``out`` (c32 symbols PDU, unit power,
``image_id``/``cbr``/``n_symbols``/``codec`` metadata), ``drop`` (drops of the inner blocks).
"""
from __future__ import annotations

from gnuradio import gr

from ..contract import CODEC_DIGITAL, CODEC_SEMANTIC, CODECS, PORT_DROP, PORT_IN, PORT_OUT
from .deepjscc_encoder import deepjscc_encoder
from .jscc_encoder import jscc_encoder
from .semantic_encoder import semantic_encoder


class semcod_tx(gr.hier_block2):
    """Args: bundle, cbr, codec ("semantic" | "deepjscc" | "digital"), normalize (unit power per image),
    threads (ORT threads per model); digital: source_codec, snr_db (SNR estimate for the MCS), mode
    (MCS index, -1 = from snr_db)."""

    def __init__(self, bundle="models/semcod_32", cbr="1/12", codec=CODEC_SEMANTIC, normalize=True, threads=1,
                 source_codec="avif", snr_db=10.0, mode=-1):
        gr.hier_block2.__init__(self, "semcod_tx", gr.io_signature(0, 0, 0), gr.io_signature(0, 0, 0))
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
        for port in (PORT_IN,):
            self.message_port_register_hier_in(port)
        for port in (PORT_OUT, PORT_DROP):
            self.message_port_register_hier_out(port)
        if codec == CODEC_SEMANTIC:
            self.stages = [semantic_encoder(bundle, threads), jscc_encoder(bundle, cbr, normalize, threads)]
        elif codec == CODEC_DIGITAL:
            from .digital_encoder import digital_encoder

            self.stages = [digital_encoder(cbr, source_codec, snr_db, mode)]
        else:
            self.stages = [deepjscc_encoder(bundle, cbr, normalize, threads)]
        self.msg_connect(self, PORT_IN, self.stages[0], PORT_IN)
        for a, b in zip(self.stages[:-1], self.stages[1:]):
            self.msg_connect(a, PORT_OUT, b, PORT_IN)
        self.msg_connect(self.stages[-1], PORT_OUT, self, PORT_OUT)
        for s in self.stages:
            self.msg_connect(s, PORT_DROP, self, PORT_DROP)
        self.n_symbols = getattr(self.stages[-1], "n_symbols", None)  # digital: set by each image's size

    def set_snr_db(self, snr_db):
        """The SNR estimate the digital codec picks its MCS from (other codecs: no effect)."""
        if hasattr(self.stages[-1], "set_snr_db"):
            self.stages[-1].set_snr_db(snr_db)

    def n_dropped(self):
        return sum(s.n_dropped() for s in self.stages)

    def n_processed(self):
        return self.stages[-1].n_processed()
