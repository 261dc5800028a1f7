#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``semcod_rx``: received symbols PDU -> image PDU and label PDU (hier block).

``codec="semantic"``: jscc_decoder@cbr -> detokenizer (``image``) and, when the bundle has a
``classifier`` and ``classify`` is set, -> token classifier (``label``).  ``codec="deepjscc"``:
the Deep JSCC decoder (``image``) and, with an ``image_classifier`` in the bundle, -> image
classifier on the reconstruction (``label``).  The decoders read ``snr_db`` / ``noise_var`` /
``erasures`` from the PDU metadata (the PHY receiver's); ``snr_db`` is the fallback (or, with
``snr_source="fixed"``, the value always used).  ``codec="digital"``: the digital decoder
(``source_codec``; MCS from the PHY header's ``mode``; a failed CRC is a drop, and ``fallback``
"mean" / "last" / "none" says what is shown), then the image classifier as for Deep JSCC.
"""
from __future__ import annotations

from gnuradio import gr

from .classifier import classifier
from ..contract import CODEC_DIGITAL, CODEC_SEMANTIC, CODECS, PORT_DROP, PORT_IMAGE, PORT_IN, PORT_LABEL, PORT_OUT
from .base import get_bundle
from .deepjscc_decoder import deepjscc_decoder
from .detokenizer import detokenizer
from .image_classifier import image_classifier
from .jscc_decoder import jscc_decoder


class semcod_rx(gr.hier_block2):
    """Args: bundle, cbr, codec, snr_db, snr_source, classify, class_names, threads; digital:
    source_codec, fallback."""

    def __init__(self, bundle="models/semcod_32", cbr="1/12", codec=CODEC_SEMANTIC, snr_db=10.0,
                 snr_source="metadata", classify=True, class_names="", threads=1, source_codec="avif",
                 fallback="mean"):
        gr.hier_block2.__init__(self, "semcod_rx", gr.io_signature(0, 0, 0), gr.io_signature(0, 0, 0))
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
        self.message_port_register_hier_in(PORT_IN)
        for port in (PORT_IMAGE, PORT_LABEL, PORT_DROP):
            self.message_port_register_hier_out(port)
        if codec == CODEC_DIGITAL:
            from .digital_decoder import digital_decoder

            self.decoder = digital_decoder(cbr, source_codec, fallback, snr_db=snr_db)
        else:
            self.decoder = (jscc_decoder if codec == CODEC_SEMANTIC else deepjscc_decoder)(bundle, cbr, snr_db,
                                                                                        snr_source, threads)
        self.stages = [self.decoder]
        if codec == CODEC_SEMANTIC:  # tokens -> detokenizer (image); the classifier reads the tokens
            self.detokenizer = detokenizer(bundle, threads)
            self.msg_connect(self.decoder, PORT_OUT, self.detokenizer, PORT_IN)
            self.stages.append(self.detokenizer)
            head = classifier
        else:  # the decoder gives the image; the image classifier reads the reconstruction
            head = image_classifier
        self.image_stage = self.stages[-1]
        self.msg_connect(self.image_stage, PORT_OUT, self, PORT_IMAGE)
        self.classifier = None
        if classify and get_bundle(bundle, threads).has(head.ROLE):
            self.classifier = head(bundle, class_names, threads)
            self.msg_connect(self.decoder, PORT_OUT, self.classifier, PORT_IN)
            self.msg_connect(self.classifier, PORT_OUT, self, PORT_LABEL)
            self.stages.append(self.classifier)
        self.msg_connect(self, PORT_IN, self.decoder, PORT_IN)
        for s in self.stages:
            self.msg_connect(s, PORT_DROP, self, PORT_DROP)

    def set_snr_db(self, snr_db):
        self.decoder.set_snr_db(snr_db)

    def n_dropped(self):
        return sum(s.n_dropped() for s in self.stages)

    def n_processed(self):
        """Images delivered on ``image`` (the same count for both codecs)."""
        return self.image_stage.n_processed()
