#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zmq_msg_source``: ZMQ PULL (connects) -> messages on ``out``; the other end of
:mod:`gr_semcod.blocks.zmq_msg_sink` (e.g. the link reports of a receiver in another process,
fed to ``semcod_tx``'s ``snr``).

A receive thread (started and stopped with the flowgraph) polls the socket every ``timeout`` ms
and publishes each message (``pmt.deserialize_str``).  A message that does not deserialise, or
is larger than ``max_message_bytes`` (libzmq drops such a peer before reading it), is logged and
counted (:meth:`n_bad`), and the block keeps running.  Security as the sample source: loopback by
default, CURVE (this end the client, accepting only the server holding ``peer_key``) otherwise.
"""
from __future__ import annotations

import threading

import pmt
from gnuradio import gr

from ..contract import PORT_OUT
from ..runtime.zmq_security import limit, resolve, secure
from .zmq_msg_sink import DEFAULT_MSG_ADDRESS

#: reports are a few hundred bytes; anything far larger is not one
DEFAULT_MAX_MESSAGE_BYTES = 1 << 16


class zmq_msg_source(gr.basic_block):
    """Args: address (connects), timeout (poll period, ms), max_message_bytes, security,
    secret_key, peer_key."""

    def __init__(self, address=DEFAULT_MSG_ADDRESS, timeout=100, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                 security="auto", secret_key="", peer_key=""):
        import zmq

        gr.basic_block.__init__(self, name="semcod_zmq_msg_source", in_sig=None, out_sig=None)
        self.message_port_register_out(pmt.intern(PORT_OUT))
        self._log = gr.logger("semcod_zmq_msg_source")
        curve = resolve(str(address), security, secret_key, peer_key, log=self._log.warn)
        self.sock = zmq.Context.instance().socket(zmq.PULL)
        self.sock.setsockopt(zmq.LINGER, 0)
        limit(self.sock, max_message_bytes)
        self.secure = curve is not None
        secure(self.sock, curve, server=False)
        self.sock.connect(str(address))
        self.timeout = int(timeout)
        self._n_out = self._n_bad = 0
        self._run = threading.Event()
        self._thread = None

    def start(self):
        self._run.set()
        self._thread = threading.Thread(target=self._loop, name="semcod_zmq_msg_source", daemon=True)
        self._thread.start()
        return True

    def stop(self):
        self._run.clear()
        if self._thread is not None:
            self._thread.join(2.0 + self.timeout / 1000.0)
        return True

    def _loop(self) -> None:
        import zmq

        while self._run.is_set():
            try:
                if not self.sock.poll(self.timeout, zmq.POLLIN):
                    continue
                data = self.sock.recv(zmq.NOBLOCK)
            except zmq.ZMQError:
                continue
            try:
                msg = pmt.deserialize_str(data)
            except Exception as e:  # noqa: BLE001 - whatever the peer sent, the block keeps running
                self._n_bad += 1
                self._log.warn(f"ignored a message that is not a serialised PMT ({self._n_bad} so far): "
                               f"{type(e).__name__}")
                continue
            self.message_port_pub(pmt.intern(PORT_OUT), msg)
            self._n_out += 1

    def n_processed(self) -> int:
        return self._n_out

    def n_bad(self) -> int:
        """Messages that did not deserialise."""
        return self._n_bad
