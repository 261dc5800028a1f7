#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zmq_sample_sink``: complex baseband samples -> ZMQ PUSH (binds), wire type fc32 or sc16.

Hier block of C++ blocks: [``complex_to_interleaved_short``] -> ``zeromq.push_sink``.

* PUSH/PULL, not PUB/SUB: PUB drops silently at the high-water mark and a late subscriber
  misses the first messages; PUSH queues until a PULL peer connects, so the processes of a
  split flowgraph may start in any order.
* ``item_type``: ``"fc32"`` (complex float32, 8 bytes/sample: 640 Mb/s at 10 Msps) or
  ``"sc16"`` (interleaved int16 I/Q scaled by ``scale``, 4 bytes/sample).  Both ends must agree,
  as must ``pass_tags``.
* The default address binds to the loopback interface only (``tcp://127.0.0.1:5555``); use
  ``tcp://0.0.0.0:<port>`` deliberately to accept other hosts.
"""
from __future__ import annotations

from gnuradio import blocks, gr, zeromq

ITEM_TYPES = ("fc32", "sc16")
DEFAULT_SINK_ADDRESS = "tcp://127.0.0.1:5555"
#: sc16: sample * scale as int16; a unit-power OFDM signal stays below ~6 rms-peaks, 2^15 / 8 leaves headroom
DEFAULT_SC16_SCALE = 4096.0


class zmq_sample_sink(gr.hier_block2):
    """Args: address, item_type ("fc32"|"sc16"), scale (sc16 full-scale factor), timeout (ms),
    pass_tags, hwm (high-water mark in messages, -1 = ZMQ default)."""

    def __init__(self, address=DEFAULT_SINK_ADDRESS, item_type="fc32", scale=DEFAULT_SC16_SCALE, timeout=100,
                 pass_tags=False, hwm=-1):
        gr.hier_block2.__init__(self, "semcod_zmq_sample_sink", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        if item_type not in ITEM_TYPES:
            raise ValueError(f"item_type must be one of {ITEM_TYPES}, got {item_type!r}")
        self.item_type = item_type
        if item_type == "fc32":
            self.push = zeromq.push_sink(gr.sizeof_gr_complex, 1, str(address), int(timeout), bool(pass_tags), int(hwm))
            self.connect(self, self.push)
        else:
            self.to_short = blocks.complex_to_interleaved_short(False, float(scale))
            self.push = zeromq.push_sink(gr.sizeof_short, 1, str(address), int(timeout), bool(pass_tags), int(hwm))
            self.connect(self, self.to_short, self.push)

    def last_endpoint(self) -> str:
        return self.push.last_endpoint()
