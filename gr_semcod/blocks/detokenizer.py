#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``detokenizer``: semantic tokens PDU -> image PDU (role ``detokenizer``, the human receiver).

In: tokens PDU (``f32vector`` B*N*D).  Out: image PDU, ``u8vector`` B*H*W*3 (HWC) with
``height``, ``width``, ``channels``; other metadata (``image_id``, ``snr_db_used`` ...) passed through.
"""
from __future__ import annotations

from ..contract import KEY_CHANNELS, KEY_HEIGHT, KEY_N_TOKENS, KEY_TOKEN_DIM, KEY_WIDTH
from .onnx_model import onnx_model


class detokenizer(onnx_model):
    """Args: bundle, threads."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = "detokenizer", "f32", "u8", "semcod_detokenizer"

    def __init__(self, bundle="models/semcod_32", threads=1):
        onnx_model.__init__(self, bundle, threads=threads)

    def finish(self, meta, outputs, b):
        img = self.output_vector(outputs[self.output_names[0]])  # (B, H, W, C)
        for key in (KEY_N_TOKENS, KEY_TOKEN_DIM):
            meta.pop(key, None)
        meta[KEY_HEIGHT], meta[KEY_WIDTH], meta[KEY_CHANNELS] = (int(s) for s in img.shape[1:])
        return meta, img
