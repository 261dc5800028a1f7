#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``deepjscc_encoder``: image PDU -> channel symbols PDU, the Deep JSCC baseline
(role ``deepjscc_encoder@<cbr>``).

In: image PDU (u8 HWC, see :mod:`gr_semcod.blocks.common`).  Out: symbols PDU (c32, unit power
per image) with ``cbr``, ``n_symbols`` and ``codec`` = "deepjscc".
"""
from __future__ import annotations

from ..runtime.bundle import role_key
from ..runtime.channels import power_normalize
from .common import CODEC_DEEPJSCC, KEY_CBR, KEY_CODEC, KEY_N_SYMBOLS
from .onnx_model import onnx_model
from .semantic_encoder import check_image_meta


class deepjscc_encoder(onnx_model):
    """Args: bundle, cbr, normalize (unit power per image after the model), threads."""

    def __init__(self, bundle="models/semcod_32", cbr="1/12", normalize=True, threads=1):
        self.cbr = str(cbr)
        self.normalize = bool(normalize)
        onnx_model.__init__(self, bundle, role_key("deepjscc_encoder", self.cbr), in_type="u8", out_type="c32",
                            threads=threads, name="semcod_deepjscc_encoder")
        self.n_symbols = int(self.out_specs[self.output_names[0]]["shape"][1])

    def prepare(self, meta, vec, b):
        check_image_meta(meta, self.item_dims)
        return onnx_model.prepare(self, meta, vec, b)

    def finish(self, meta, outputs, b):
        z = self.output_vector(outputs[self.output_names[0]])
        if self.normalize:
            z = power_normalize(z)
        meta[KEY_CBR] = self.cbr
        meta[KEY_N_SYMBOLS] = self.n_symbols
        meta[KEY_CODEC] = CODEC_DEEPJSCC
        return meta, z
