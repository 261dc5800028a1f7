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

from ..contract import KEY_N_TOKENS, KEY_TOKEN_DIM, KEY_TOKEN_SIZES
from .onnx_model import onnx_model


class semantic_encoder(onnx_model):
    """Args: bundle (path), threads (ORT intra-op threads, 0 = all cores)."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = "tokenizer", "u8", "f32", "semcod_semantic_encoder"

    def __init__(self, bundle="models/semcod_32", threads=1):
        onnx_model.__init__(self, bundle, threads=threads)

    def finish(self, meta, outputs, b):
        tokens, sizes = outputs["tokens"], outputs["sizes"]
        meta[KEY_N_TOKENS] = int(tokens.shape[1])
        meta[KEY_TOKEN_DIM] = int(tokens.shape[2])
        meta[KEY_TOKEN_SIZES] = np.asarray(sizes, np.float32).ravel()
        return meta, np.asarray(tokens, np.float32)
