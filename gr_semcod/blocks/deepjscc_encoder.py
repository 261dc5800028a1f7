#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``deepjscc_encoder``: image PDU -> channel symbols PDU, the Deep JSCC baseline
(role ``deepjscc_encoder@<cbr>``).

In: image PDU (u8 HWC, see ``docs/pdu.md``).  Out: symbols PDU (c32, unit power
per image) with ``cbr``, ``n_symbols`` and ``codec`` = "deepjscc".
"""
from __future__ import annotations

from ..contract import CODEC_DEEPJSCC
from .jscc_encoder import jscc_encoder


class deepjscc_encoder(jscc_encoder):
    """Args: bundle, cbr, normalize (unit power per image after the model), threads."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = "deepjscc_encoder", "u8", "c32", "semcod_deepjscc_encoder"
    INPUT_KEYS = {}
    CODEC = CODEC_DEEPJSCC
    CONSUMED = ()
