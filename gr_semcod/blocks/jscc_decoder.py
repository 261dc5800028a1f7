#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``jscc_decoder``: received symbols PDU -> semantic tokens PDU (role ``jscc_decoder@<cbr>``).

In: symbols PDU, ``c32vector`` of B*k equalised symbols.  Metadata read (written by the PHY
receiver): ``snr_db`` or else ``noise_var`` (scalar or one per image) -- the decoder is
conditioned on that SNR -- and ``erasures`` (mask or indices; erased symbols are set to 0).
Without SNR metadata the ``snr_db`` parameter is used (counted in :meth:`n_snr_fallback`);
``snr_source="fixed"`` always uses the parameter.  A ``cbr`` entry, when present, must equal
the block's rate.
Out: tokens PDU (``f32vector`` B*N*D) with ``snr_db_used`` and ``n_erased`` metadata.
"""
from __future__ import annotations

from ..contract import (CODEC_SEMANTIC, KEY_CBR, KEY_CODEC, KEY_N_ERASED, KEY_N_TOKENS, KEY_SNR_USED, KEY_TOKEN_DIM,
                        SNR_SOURCES, PDUError, apply_erasures, snr_from_meta)
from ..rates import same_cbr
from .onnx_model import onnx_model


class jscc_decoder(onnx_model):
    """Args: bundle, cbr, snr_db (fallback/fixed SNR in dB), snr_source ("metadata": snr_db then
    noise_var; "noise_var": noise_var then snr_db; "fixed"), threads."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = "jscc_decoder", "c32", "f32", "semcod_jscc_decoder"
    CODEC = CODEC_SEMANTIC

    def __init__(self, bundle="models/semcod_32", cbr="1/12", snr_db=10.0, snr_source="metadata", threads=1):
        self.snr_db = float(snr_db)
        if snr_source not in SNR_SOURCES:
            raise ValueError(f"snr_source must be one of {SNR_SOURCES}, got {snr_source!r}")
        self.snr_source = snr_source
        self._n_fallback = 0
        onnx_model.__init__(self, bundle, threads=threads, cbr=cbr)

    def set_snr_db(self, snr_db):
        self.snr_db = float(snr_db)

    def n_snr_fallback(self):
        return self._n_fallback

    def prepare(self, meta, vec, b):
        cbr = meta.get(KEY_CBR)
        if cbr is not None and not same_cbr(cbr, self.cbr):
            raise PDUError(f"metadata {KEY_CBR!r}={cbr!r}, expected {self.cbr!r} (the rate of this decoder)")
        z, n_erased = apply_erasures(meta, vec)
        snr, where = snr_from_meta(meta, b, self.snr_db, self.snr_source)
        if where == "fallback":
            self._n_fallback += 1
        meta[KEY_SNR_USED] = snr.ravel() if b > 1 else float(snr[0, 0])
        meta[KEY_N_ERASED] = n_erased
        meta[KEY_CBR] = self.cbr  # the PHY carries only image_id: say what decoded it
        meta[KEY_CODEC] = self.CODEC
        return {"symbols": self.vector_to_input(meta, z, b), "snr_db": snr}

    def finish(self, meta, outputs, b):
        y = outputs[self.output_names[0]]
        meta[KEY_N_TOKENS] = int(y.shape[1])
        meta[KEY_TOKEN_DIM] = int(y.shape[2])
        return meta, self.output_vector(y)
