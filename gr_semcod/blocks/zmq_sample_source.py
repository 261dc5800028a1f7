#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zmq_sample_source``: ZMQ PULL (connects) -> complex baseband samples, wire type fc32 or sc16.

Hier block: a PULL socket block (pyzmq) -> [``interleaved_short_to_complex``].  The
counterpart of :class:`~gr_semcod.blocks.zmq_sample_sink.zmq_sample_sink` (same ``item_type``,
``scale``, ``pass_tags`` and security on both ends).  PULL connects, so it may start before
the PUSH side, and reconnects when the PUSH process restarts.

Limits and bad input: ``max_message_bytes`` is the socket's ``ZMQ_MAXMSGSIZE`` (libzmq drops
a peer announcing a bigger message before reading it); a message whose size is not a whole
number of samples is refused -- logged, counted in :meth:`n_refused` -- and the stream goes
on; a dropped connection or failed handshake is logged and counted, and the socket connects
again (:class:`~gr_semcod.blocks.zmq_monitor.LinkMonitor`).  With CURVE (any non-loopback address, or ``security="curve"``) this end is the CURVE
client and talks only to a PUSH server holding the public key ``peer_key``.
"""
from __future__ import annotations

import numpy as np
from gnuradio import blocks, gr, zeromq

from ..runtime.zmq_security import DEFAULT_MAX_MESSAGE_BYTES, SecurityError, limit, resolve, secure
from .zmq_monitor import LinkMonitor
from .zmq_sample_sink import _KEEP_ALIVE, DEFAULT_SC16_SCALE, ITEM_TYPES

DEFAULT_SOURCE_ADDRESS = "tcp://127.0.0.1:5555"


class zmq_pull(gr.sync_block):
    """ZMQ PULL (connects) -> stream of ``dtype`` items; messages must hold whole ``frame_bytes``."""

    def __init__(self, dtype, address, timeout=100, hwm=-1, curve=None, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                 frame_bytes=None):
        import zmq

        gr.sync_block.__init__(self, name="semcod_zmq_pull", in_sig=None, out_sig=[dtype])
        self.dtype = np.dtype(dtype)
        self.frame_bytes = int(frame_bytes or self.dtype.itemsize)
        self.timeout = int(timeout)
        self._log = gr.logger("semcod_zmq_sample_source")
        self.sock = zmq.Context.instance().socket(zmq.PULL)
        self.sock.setsockopt(zmq.LINGER, 0)
        if int(hwm) >= 0:
            self.sock.setsockopt(zmq.RCVHWM, int(hwm))
        limit(self.sock, max_message_bytes)
        secure(self.sock, curve, server=False)
        # libzmq does not reconnect after a protocol error (e.g. a frame above ZMQ_MAXMSGSIZE):
        # watch for disconnects and connect again, so the stream resumes
        self.address = str(address)
        self.monitor = LinkMonitor(self.sock, self.address, self._log, reconnect=True, what="sample source")
        self.sock.connect(self.address)
        self._pending = np.zeros(0, self.dtype)
        self.n_messages = 0
        self.n_items = 0
        self._n_refused = 0
        self.last_refusal = ""
        _KEEP_ALIVE.append(self)

    def n_refused(self) -> int:
        return self._n_refused

    @property
    def n_reconnects(self) -> int:
        return self.monitor.n_reconnects

    def work(self, input_items, output_items):
        import zmq

        out = output_items[0]
        if not len(self._pending):
            if not self.sock.poll(self.timeout, zmq.POLLIN):
                self.monitor.check()
                return 0
            try:
                msg = self.sock.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return 0
            buf = msg.buffer
            if len(buf) % self.frame_bytes:
                self._n_refused += 1
                self.last_refusal = f"message of {len(buf)} bytes is not a whole number of {self.frame_bytes}-byte samples"
                self._log.warn(f"refused a ZMQ message ({self.last_refusal}); {self._n_refused} refused so far")
                return 0
            self._pending = np.frombuffer(buf, self.dtype)
            self.n_messages += 1
        k = min(len(out), len(self._pending))
        out[:k] = self._pending[:k]
        self._pending = self._pending[k:]
        self.n_items += k
        return k

    def stop(self):
        self.monitor.close()
        self.sock.close(0)
        return True


class zmq_sample_source(gr.hier_block2):
    """Args: address, item_type ("fc32"|"sc16"), scale, timeout (ms), pass_tags, hwm, security
    ("auto"|"curve"|"none"), secret_key (this end's), peer_key (the PUSH server's public key),
    max_message_bytes (ZMQ_MAXMSGSIZE)."""

    def __init__(self, address=DEFAULT_SOURCE_ADDRESS, item_type="fc32", scale=DEFAULT_SC16_SCALE, timeout=100,
                 pass_tags=False, hwm=-1, security="auto", secret_key="", peer_key="",
                 max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES):
        gr.hier_block2.__init__(self, "semcod_zmq_sample_source", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        if item_type not in ITEM_TYPES:
            raise ValueError(f"item_type must be one of {ITEM_TYPES}, got {item_type!r}")
        self.item_type = item_type
        log = gr.logger("semcod_zmq_sample_source")
        curve = resolve(str(address), security, secret_key, peer_key, log=log.warn)
        self.secure = curve is not None
        if pass_tags:
            if curve is not None:
                raise SecurityError("pass_tags uses GNU Radio's zeromq blocks, which have no CURVE; "
                                    "use pass_tags=False or a loopback address with security='none'")
            size = gr.sizeof_gr_complex if item_type == "fc32" else gr.sizeof_short
            self.pull = zeromq.pull_source(size, 1, str(address), int(timeout), True, int(hwm))
        elif item_type == "fc32":
            self.pull = zmq_pull(np.complex64, address, timeout, hwm, curve, max_message_bytes)
        else:
            self.pull = zmq_pull(np.int16, address, timeout, hwm, curve, max_message_bytes, frame_bytes=4)
        if item_type == "fc32":
            self.connect(self.pull, self)
        else:
            self.to_complex = blocks.interleaved_short_to_complex(False, False, float(scale))
            self.connect(self.pull, self.to_complex, self)

    def n_refused(self) -> int:
        return self.pull.n_refused() if hasattr(self.pull, "n_refused") else 0
