#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``jscc_encoder``: semantic tokens PDU -> complex channel symbols PDU (role ``jscc_encoder@<cbr>``).

In: tokens PDU (``f32vector`` B*N*D, ``token_sizes`` metadata from ``semantic_encoder``).
Out: symbols PDU, ``c32vector`` of B*k complex symbols, each image at unit average power,
metadata ``image_id`` (passed through), ``cbr``, ``n_symbols`` = k, ``codec`` = "semantic".
"""
from __future__ import annotations

from ..contract import CODEC_SEMANTIC, KEY_CBR, KEY_CODEC, KEY_N_SYMBOLS, KEY_N_TOKENS, KEY_TOKEN_DIM, KEY_TOKEN_SIZES
from ..runtime.channels import power_normalize
from .onnx_model import onnx_model


class jscc_encoder(onnx_model):
    """Args: bundle, cbr (e.g. "1/12", a rate of the bundle), normalize (re-scale each image to
    unit power after the model; guards the PHY against a drifting export), threads."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = "jscc_encoder", "f32", "c32", "semcod_jscc_encoder"
    INPUT_KEYS = {"sizes": KEY_TOKEN_SIZES}
    CODEC = CODEC_SEMANTIC
    #: metadata of the input that the symbols PDU no longer describes
    CONSUMED = (KEY_TOKEN_SIZES, KEY_N_TOKENS, KEY_TOKEN_DIM)

    def __init__(self, bundle="models/semcod_32", cbr="1/12", normalize=True, threads=1):
        self.normalize = bool(normalize)
        onnx_model.__init__(self, bundle, threads=threads, cbr=cbr)
        self.n_symbols = int(self.out_specs[self.output_names[0]]["shape"][1])

    def finish(self, meta, outputs, b):
        z = self.output_vector(outputs[self.output_names[0]])  # (B, k) complex64
        if self.normalize:
            z = power_normalize(z)
        for key in self.CONSUMED:
            meta.pop(key, None)
        meta[KEY_CBR] = self.cbr
        meta[KEY_N_SYMBOLS] = self.n_symbols
        meta[KEY_CODEC] = self.CODEC
        return meta, z
