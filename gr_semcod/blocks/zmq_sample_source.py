#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zmq_sample_source``: ZMQ PULL (connects) -> complex baseband samples, wire type fc32 or sc16.

Hier block of C++ blocks: ``zeromq.pull_source`` -> [``interleaved_short_to_complex``].  The
counterpart of :class:`~gr_semcod.blocks.zmq_sample_sink.zmq_sample_sink` (same ``item_type``,
``scale`` and ``pass_tags`` on both ends).  PULL connects, so it may start before the PUSH side.
"""
from __future__ import annotations

from gnuradio import blocks, gr, zeromq

from .zmq_sample_sink import DEFAULT_SC16_SCALE, ITEM_TYPES

DEFAULT_SOURCE_ADDRESS = "tcp://127.0.0.1:5555"


class zmq_sample_source(gr.hier_block2):
    """Args: address, item_type ("fc32"|"sc16"), scale, timeout (ms), pass_tags, hwm."""

    def __init__(self, address=DEFAULT_SOURCE_ADDRESS, item_type="fc32", scale=DEFAULT_SC16_SCALE, timeout=100,
                 pass_tags=False, hwm=-1):
        gr.hier_block2.__init__(self, "semcod_zmq_sample_source", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        if item_type not in ITEM_TYPES:
            raise ValueError(f"item_type must be one of {ITEM_TYPES}, got {item_type!r}")
        self.item_type = item_type
        if item_type == "fc32":
            self.pull = zeromq.pull_source(gr.sizeof_gr_complex, 1, str(address), int(timeout), bool(pass_tags), int(hwm))
            self.connect(self.pull, self)
        else:
            self.pull = zeromq.pull_source(gr.sizeof_short, 1, str(address), int(timeout), bool(pass_tags), int(hwm))
            self.to_complex = blocks.interleaved_short_to_complex(False, False, float(scale))
            self.connect(self.pull, self.to_complex, self)
