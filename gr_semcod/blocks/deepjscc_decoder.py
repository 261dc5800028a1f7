#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``deepjscc_decoder``: received symbols PDU -> image PDU, the Deep JSCC baseline
(role ``deepjscc_decoder@<cbr>``).

Same metadata rules as :mod:`~gr_semcod.blocks.jscc_decoder` (``snr_db`` / ``noise_var``,
``erasures``, ``snr_source``); out: image PDU (u8 HWC with ``height``, ``width``, ``channels``).
"""
from __future__ import annotations

from ..contract import CODEC_DEEPJSCC, KEY_CHANNELS, KEY_HEIGHT, KEY_WIDTH
from .jscc_decoder import jscc_decoder


class deepjscc_decoder(jscc_decoder):
    """Args: bundle, cbr, snr_db, snr_source, threads."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = "deepjscc_decoder", "c32", "u8", "semcod_deepjscc_decoder"
    CODEC = CODEC_DEEPJSCC

    def finish(self, meta, outputs, b):
        img = self.output_vector(outputs[self.output_names[0]])
        meta[KEY_HEIGHT], meta[KEY_WIDTH], meta[KEY_CHANNELS] = (int(s) for s in img.shape[1:])
        return meta, img
