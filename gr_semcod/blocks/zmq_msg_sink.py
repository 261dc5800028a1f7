#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zmq_msg_sink``: messages -> ZMQ PUSH (binds), e.g. the digital receiver's link reports
(``semcod_rx`` ``snr``) back to the transmitter's process, where ``digital_encoder`` /
``semcod_tx`` pull them (``report_address``, :mod:`gr_semcod.blocks.zmq_msg_pull`).

Every message on ``in`` is serialised (``pmt.serialize_str``) and sent without blocking.  This
PUSH socket binds, and a bound PUSH with no PULL peer connected yet does not queue: a message sent
before the transmitter connects (or when ``hwm`` messages wait) is counted (:meth:`n_unsent`) and
logged, never waited for, so the processes may start in any order; a report that does not get
through only leaves the transmitter on the one before (or on its own SNR estimate).
Security as :mod:`gr_semcod.blocks.zmq_sample_sink`: the default address is loopback only,
any other switches CURVE on (this end the server, admitting only ``peer_key``).
"""
from __future__ import annotations

import pmt

from ..contract import PORT_IN
from ..runtime.zmq_security import resolve, secure
from .base import message_block
from .zmq_sample_sink import SEND_LINGER_MS, _bind

DEFAULT_MSG_ADDRESS = "tcp://127.0.0.1:5557"
DEFAULT_HWM = 1000


class zmq_msg_sink(message_block):
    """Args: address (binds), hwm (queued messages), security ("auto" | "curve" | "none"),
    secret_key, peer_key (see :mod:`gr_semcod.runtime.zmq_security`)."""

    def __init__(self, address=DEFAULT_MSG_ADDRESS, hwm=DEFAULT_HWM, security="auto", secret_key="", peer_key=""):
        import zmq

        message_block.__init__(self, "semcod_zmq_msg_sink", {PORT_IN: self.handle})
        curve = resolve(str(address), security, secret_key, peer_key, log=self._log.warn)
        self.sock = zmq.Context.instance().socket(zmq.PUSH)
        self.sock.setsockopt(zmq.LINGER, SEND_LINGER_MS)
        self.sock.setsockopt(zmq.SNDHWM, int(hwm))
        self.secure = secure(self.sock, curve, server=True) is not None
        _bind(self.sock, str(address))
        self._n_unsent = 0

    def last_endpoint(self) -> str:
        import zmq

        return self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def handle(self, msg) -> None:
        import zmq

        try:
            self.sock.send(pmt.serialize_str(msg), zmq.NOBLOCK)
        except zmq.Again:
            self._n_unsent += 1
            self._log.warn(f"message not sent (no peer connected, or the queue is full): {self._n_unsent} unsent so far")
            return
        self._n_out += 1

    def n_unsent(self) -> int:
        """Messages not sent: no peer connected yet, or ``hwm`` messages already waiting."""
        return self._n_unsent

    def stop(self):
        self.sock.close(SEND_LINGER_MS)
        return True
