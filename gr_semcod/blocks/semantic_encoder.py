#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``semantic_encoder``: image PDU -> semantic tokens PDU (bundle role ``tokenizer``).

In: image PDU, ``u8vector`` of ``B*H*W*3`` bytes (HWC) with ``height``/``width`` metadata
(optional; when present they must match the bundle's image size).
Out: tokens PDU, ``f32vector`` of ``B*N*D`` with ``n_tokens`` = N, ``token_dim`` = D and
``token_sizes`` (f32, B*N: how many patches each merged token stands for).
"""
from __future__ import annotations

import numpy as np

from .common import KEY_CHANNELS, KEY_HEIGHT, KEY_N_TOKENS, KEY_TOKEN_DIM, KEY_TOKEN_SIZES, KEY_WIDTH, PDUError, meta_int
from .onnx_model import onnx_model

ROLE = "tokenizer"


class semantic_encoder(onnx_model):
    """Args: bundle (path), threads (ORT intra-op threads, 0 = all cores)."""

    def __init__(self, bundle="models/semcod_32", threads=1):
        onnx_model.__init__(self, bundle, ROLE, in_type="u8", out_type="f32", threads=threads,
                            name="semcod_semantic_encoder")

    def prepare(self, meta, vec, b):
        check_image_meta(meta, self.item_dims)
        return onnx_model.prepare(self, meta, vec, b)

    def finish(self, meta, outputs, b):
        tokens, sizes = outputs["tokens"], outputs["sizes"]
        meta[KEY_N_TOKENS] = int(tokens.shape[1])
        meta[KEY_TOKEN_DIM] = int(tokens.shape[2])
        meta[KEY_TOKEN_SIZES] = np.asarray(sizes, np.float32).ravel()
        return meta, np.asarray(tokens, np.float32)


def check_image_meta(meta, item_dims):
    """height/width/channels metadata, when present, must match the model's (C, H, W)."""
    c, h, w = item_dims
    got = (meta_int(meta, KEY_HEIGHT, h), meta_int(meta, KEY_WIDTH, w), meta_int(meta, KEY_CHANNELS, c))
    if got != (h, w, c):
        raise PDUError(f"image is {got[0]}x{got[1]}x{got[2]}, the bundle expects {h}x{w}x{c}")
