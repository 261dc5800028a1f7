#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``semcod_rx``: received symbols PDU -> photo (image PDU) and label PDU (hier block).

Tiled codecs decode the ``B = len / k`` tiles of the PDU in one batch, then ``photo_stitcher``
stitches them into the photo of ``photo_height x photo_width`` (the PHY header's) and crops the
padding; a tile whose symbols were all erased is filled with the mean colour of the received
tiles and counted (``n_lost_tiles``).  ``codec="semantic"``: jscc_decoder@cbr -> detokenizer
(``image``) and, when the bundle has a ``classifier`` and ``classify`` is set, -> token classifier
(``label``).  ``codec="deepjscc"``: the Deep JSCC decoder (``image``) and, with an
``image_classifier`` in the bundle, -> image classifier on the reconstruction (``label``; one
label per tile).  ``codec="semantic2"``: semantic2_decoder decodes the photo whole, its side
information first (``image``; a failed side information gives the grey photo, counted), and the
image classifier reads it (``label``; a photo larger than the bundle size is skipped, counted).
The decoders read ``snr_db`` / ``noise_var`` / ``erasures`` from the PDU
metadata (the PHY receiver's); ``snr_db`` is the fallback (or, with ``snr_source="fixed"``, the
value always used).  ``codec="digital"``: the digital decoder on the whole photo
(``source_codec``; MCS and size from the PHY header; a failed CRC is a drop, ``fallback`` "mean" /
"last" / "none" says what is shown), then the image classifier as for Deep JSCC; its link report
of every photo (MIESM effective SNR per MCS) goes out on ``snr``, for ``semcod_tx``'s ``snr`` (the
MCS feedback; other codecs publish nothing there).

The codec is chosen in :meth:`semcod_rx._build`, one small branch per codec.
"""
from __future__ import annotations

from gnuradio import gr

from .classifier import classifier
from ..contract import (CODEC_DEEPJSCC, CODEC_DIGITAL, CODEC_SEMANTIC, CODEC_SEMANTIC2, CODECS, PORT_DROP,
                        PORT_IMAGE, PORT_IN, PORT_LABEL, PORT_OUT, PORT_SNR)
from .base import get_bundle
from .deepjscc_decoder import deepjscc_decoder
from .detokenizer import detokenizer
from .image_classifier import image_classifier
from .jscc_decoder import jscc_decoder
from .photo_stitcher import photo_stitcher
from .semantic2_decoder import semantic2_decoder
from .semcod_tx import not_available


class semcod_rx(gr.hier_block2):
    """Args: bundle, cbr, codec, snr_db, snr_source, classify, class_names, threads; digital:
    source_codec, fallback."""

    def __init__(self, bundle="models/semcod_32", cbr="1/12", codec=CODEC_SEMANTIC, snr_db=10.0,
                 snr_source="metadata", classify=True, class_names="", threads=1, source_codec="avif",
                 fallback="mean"):
        gr.hier_block2.__init__(self, "semcod_rx", gr.io_signature(0, 0, 0), gr.io_signature(0, 0, 0))
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
        self.codec = codec
        self.message_port_register_hier_in(PORT_IN)
        for port in (PORT_IMAGE, PORT_LABEL, PORT_DROP, PORT_SNR):
            self.message_port_register_hier_out(port)
        self.stages = []
        self.classifier = None
        self._digital = (source_codec, fallback)
        self._build(codec, bundle, cbr, snr_db, snr_source, classify, class_names, threads)
        self.msg_connect(self, PORT_IN, self.decoder, PORT_IN)
        self.msg_connect(self.image_stage, PORT_OUT, self, PORT_IMAGE)
        if codec == CODEC_DIGITAL:  # the link report, fed back to semcod_tx's MCS choice
            self.msg_connect(self.decoder, PORT_SNR, self, PORT_SNR)
        for s in self.stages:
            self.msg_connect(s, PORT_DROP, self, PORT_DROP)

    def _chain(self, *blocks):
        for a, b in zip(blocks[:-1], blocks[1:]):
            self.msg_connect(a, PORT_OUT, b, PORT_IN)
        self.stages.extend(blocks)

    def _head(self, head, source, bundle, classify, class_names, threads):
        if classify and get_bundle(bundle, threads).has(head.ROLE):
            self.classifier = head(bundle, class_names, threads)
            self.msg_connect(source, PORT_OUT, self.classifier, PORT_IN)
            self.msg_connect(self.classifier, PORT_OUT, self, PORT_LABEL)
            self.stages.append(self.classifier)

    def _build(self, codec, bundle, cbr, snr_db, snr_source, classify, class_names, threads):
        """Sets ``decoder`` (the PDU's first block), ``image_stage`` (the photo's last) and ``stages``."""
        if codec == CODEC_SEMANTIC:  # tokens -> detokenizer (tiles) -> stitcher; the classifier reads the tokens
            self.decoder = jscc_decoder(bundle, cbr, snr_db, snr_source, threads)
            self.detokenizer = detokenizer(bundle, threads)
            tile = self.detokenizer.out_specs[self.detokenizer.output_names[0]]["shape"][-1]
            self.stitcher = photo_stitcher(int(tile), self.decoder.item_size)
            self._chain(self.decoder, self.detokenizer, self.stitcher)
            self._head(classifier, self.decoder, bundle, classify, class_names, threads)
        elif codec == CODEC_DEEPJSCC:  # the decoder gives the tiles; the image classifier reads them
            self.decoder = deepjscc_decoder(bundle, cbr, snr_db, snr_source, threads)
            tile = self.decoder.out_specs[self.decoder.output_names[0]]["shape"][-1]
            self.stitcher = photo_stitcher(int(tile), self.decoder.item_size)
            self._chain(self.decoder, self.stitcher)
            self._head(image_classifier, self.decoder, bundle, classify, class_names, threads)
        elif codec == CODEC_SEMANTIC2:  # decodes the photo whole (side info first); the image classifier reads it
            self.decoder = semantic2_decoder(bundle, snr_db, snr_source, threads=threads)
            self._chain(self.decoder)
            self._head(image_classifier, self.decoder, bundle, classify, class_names, threads)
        elif codec == CODEC_DIGITAL:  # decodes the photo whole; a failed CRC is a drop
            from .digital_decoder import digital_decoder

            self.decoder = digital_decoder(cbr, *self._digital, snr_db=snr_db)
            self._chain(self.decoder)
            self._head(image_classifier, self.decoder, bundle, classify, class_names, threads)
        self.image_stage = self.stages[-1] if self.classifier is None else self.stages[-2]

    def set_snr_db(self, snr_db):
        self.decoder.set_snr_db(snr_db)

    def n_dropped(self):
        return sum(s.n_dropped() for s in self.stages)

    def n_processed(self):
        """Photos delivered on ``image`` (the same count for every codec)."""
        return self.image_stage.n_processed()

    def n_lost_tiles(self):
        """Tiles filled with the mean colour so far (tiled codecs; 0 otherwise)."""
        st = getattr(self, "stitcher", None)
        return st.n_lost_tiles() if st is not None else 0

    def busy_seconds(self):
        return sum(s.busy_seconds() for s in self.stages)
