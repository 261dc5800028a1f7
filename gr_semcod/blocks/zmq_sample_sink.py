#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zmq_sample_sink``: complex baseband samples -> ZMQ PUSH (binds), wire type fc32 or sc16.

Hier block: [``complex_to_interleaved_short``] -> a PUSH socket block (pyzmq, one message per
work() call, the raw little-endian items).

* PUSH/PULL, not PUB/SUB: PUB drops silently at the high-water mark and a late subscriber
  misses the first messages; PUSH queues until a PULL peer connects, so the processes of a
  split flowgraph may start in any order.  Without a connected peer the block stops consuming
  (back-pressure), it never drops samples.
* ``item_type``: ``"fc32"`` (complex float32, 8 bytes/sample: 640 Mb/s at 10 Msps) or
  ``"sc16"`` (interleaved int16 I/Q scaled by ``scale``, 4 bytes/sample).  Both ends must agree.
* Security (:mod:`gr_semcod.runtime.zmq_security`): the default address binds to the
  loopback interface only (``tcp://127.0.0.1:5555``).  Any other address switches CURVE on
  (``security="auto"``): this end is the CURVE server and admits only the PULL peer holding
  the public key ``peer_key`` (ZAP); a second or unauthenticated PULL connection gets nothing.
* ``pass_tags=True`` uses GNU Radio's ``zeromq.push_sink`` (its tag wire format), plain ZMQ
  only.
"""
from __future__ import annotations

import numpy as np
from gnuradio import blocks, gr, zeromq

from ..runtime.zmq_security import SecurityError, resolve, secure

ITEM_TYPES = ("fc32", "sc16")
DEFAULT_SINK_ADDRESS = "tcp://127.0.0.1:5555"
#: sc16: sample * scale as int16; a unit-power OFDM signal stays below ~6 rms-peaks, 2^15 / 8 leaves headroom
DEFAULT_SC16_SCALE = 4096.0
#: the PUSH socket keeps queued samples this long after the flowgraph stops (ms)
SEND_LINGER_MS = 2000
#: the Python socket blocks live as long as the process: GNU Radio calls their work() through
#: the Python object, which a temporary hier block (``tb.connect(src, zmq_sample_sink(...))``)
#: would otherwise free while the flowgraph runs
_KEEP_ALIVE = []


def _bind(sock, address: str, wait_s: float = 5.0) -> None:
    """Bind, retrying while the port is still held by a just-stopped flowgraph (restarts)."""
    import time

    import zmq

    t0 = time.monotonic()
    while True:
        try:
            sock.bind(address)
            return
        except zmq.ZMQError as e:
            if e.errno != zmq.EADDRINUSE or time.monotonic() - t0 > wait_s:
                raise
            time.sleep(0.1)


class zmq_push(gr.sync_block):
    """Stream of ``dtype`` items -> ZMQ PUSH (binds); CURVE server when ``curve`` is given."""

    def __init__(self, dtype, address, timeout=100, hwm=-1, curve=None):
        import zmq

        gr.sync_block.__init__(self, name="semcod_zmq_push", in_sig=[dtype], out_sig=None)
        self.timeout = int(timeout)
        self.sock = zmq.Context.instance().socket(zmq.PUSH)
        self.sock.setsockopt(zmq.LINGER, SEND_LINGER_MS)
        if int(hwm) >= 0:
            self.sock.setsockopt(zmq.SNDHWM, int(hwm))
        self.zap_domain = secure(self.sock, curve, server=True)
        _bind(self.sock, str(address))
        self._log = gr.logger("semcod_zmq_sample_sink")
        self.n_messages = 0
        self.n_items = 0
        _KEEP_ALIVE.append(self)

    def last_endpoint(self) -> str:
        import zmq

        return self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def work(self, input_items, output_items):
        import zmq

        x = input_items[0]
        if not len(x) or not self.sock.poll(self.timeout, zmq.POLLOUT):
            return 0  # no peer (yet): back-pressure, nothing is dropped
        try:
            self.sock.send(x.tobytes(), zmq.NOBLOCK)
        except zmq.Again:
            return 0
        self.n_messages += 1
        self.n_items += len(x)
        return len(x)

    def start(self):
        self._log.info(f"sending samples on {self.last_endpoint()}")  # the flowgraph is running
        return True

    def stop(self):
        self.sock.close(SEND_LINGER_MS)
        return True


class zmq_sample_sink(gr.hier_block2):
    """Args: address, item_type ("fc32"|"sc16"), scale (sc16 full-scale factor), timeout (ms),
    pass_tags, hwm (high-water mark in messages, -1 = ZMQ default), security ("auto"|"curve"|
    "none"), secret_key (this end's secret key file or Z85), peer_key (the PULL peer's public key)."""

    def __init__(self, address=DEFAULT_SINK_ADDRESS, item_type="fc32", scale=DEFAULT_SC16_SCALE, timeout=100,
                 pass_tags=False, hwm=-1, security="auto", secret_key="", peer_key=""):
        gr.hier_block2.__init__(self, "semcod_zmq_sample_sink", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        if item_type not in ITEM_TYPES:
            raise ValueError(f"item_type must be one of {ITEM_TYPES}, got {item_type!r}")
        self.item_type = item_type
        log = gr.logger("semcod_zmq_sample_sink")
        curve = resolve(str(address), security, secret_key, peer_key, log=log.warn)
        if pass_tags:
            if curve is not None:
                raise SecurityError("pass_tags uses GNU Radio's zeromq blocks, which have no CURVE; "
                                    "use pass_tags=False or a loopback address with security='none'")
            size = gr.sizeof_gr_complex if item_type == "fc32" else gr.sizeof_short
            self.push = zeromq.push_sink(size, 1, str(address), int(timeout), True, int(hwm))
        else:
            self.push = zmq_push(np.complex64 if item_type == "fc32" else np.int16, address, timeout, hwm, curve)
        self.secure = curve is not None
        if item_type == "fc32":
            self.connect(self, self.push)
        else:
            self.to_short = blocks.complex_to_interleaved_short(False, float(scale))
            self.connect(self, self.to_short, self.push)

    def last_endpoint(self) -> str:
        return self.push.last_endpoint()
