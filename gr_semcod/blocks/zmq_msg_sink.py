#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``zmq_msg_sink``: messages -> ZMQ PUSH (**connects**), e.g. the digital receiver's link reports
(``semcod_rx`` ``snr``) back to the transmitter's process, where ``digital_encoder`` /
``semcod_tx`` bind ``report_address`` and pull them (:mod:`gr_semcod.blocks.zmq_msg_pull`).

Every message on ``in`` is serialised (``pmt.serialize_str``) and sent without blocking.  This
PUSH socket connects, so it queues: a report sent before the transmitter is up (or while it
restarts) waits in the socket and is delivered when the transmitter binds -- the processes may
start in any order and no report is lost to it.  The queue is bounded: ``hwm`` messages at most
(ZMQ's send high-water mark); a message finding it full is not sent, counted (:meth:`n_unsent`)
and logged, never waited for (a report that does not get through only leaves the transmitter on
the one before, or on its own SNR estimate).  A message larger than ``max_message_bytes`` (the
receiver's limit: it would close the connection and lose the reports in flight behind it) is
refused here, logged and counted (:meth:`n_refused`).  Disconnects and failed handshakes are
logged and counted (:class:`~gr_semcod.blocks.zmq_monitor.LinkMonitor`).
Security: the default address is loopback only; any other switches CURVE on (this end the
client, talking only to the transmitter holding ``peer_key``, see
:mod:`gr_semcod.runtime.zmq_security`).
"""
from __future__ import annotations

import pmt

from ..contract import PORT_IN
from ..runtime.zmq_security import resolve, secure
from .base import message_block
from .zmq_monitor import LinkMonitor
from .zmq_msg_pull import DEFAULT_MAX_MESSAGE_BYTES
from .zmq_sample_sink import SEND_LINGER_MS

DEFAULT_MSG_ADDRESS = "tcp://127.0.0.1:5557"
DEFAULT_HWM = 1000


class zmq_msg_sink(message_block):
    """Args: address (connects: the transmitter's ``report_address``), hwm (messages queued at
    most), security ("auto" | "curve" | "none"), secret_key, peer_key (see
    :mod:`gr_semcod.runtime.zmq_security`), max_message_bytes (largest message sent)."""

    def __init__(self, address=DEFAULT_MSG_ADDRESS, hwm=DEFAULT_HWM, security="auto", secret_key="", peer_key="",
                 max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES):
        import zmq

        message_block.__init__(self, "semcod_zmq_msg_sink", {PORT_IN: self.handle})
        if int(hwm) < 1:
            raise ValueError(f"hwm (messages queued at most) must be >= 1, got {hwm}")
        self.address = str(address)
        self.max_message_bytes = int(max_message_bytes)
        curve = resolve(self.address, security, secret_key, peer_key, log=self._log.warn)
        self.sock = zmq.Context.instance().socket(zmq.PUSH)
        self.sock.setsockopt(zmq.LINGER, SEND_LINGER_MS)
        self.sock.setsockopt(zmq.SNDHWM, int(hwm))
        self.secure = secure(self.sock, curve, server=False) is not None
        self.monitor = LinkMonitor(self.sock, self.address, self._log, reconnect=False, what="message sink")
        self.sock.connect(self.address)  # queues from now on, whether or not the peer is up
        self._n_unsent = 0
        self._n_refused = 0

    def handle(self, msg) -> None:
        import zmq

        self.monitor.check()
        data = pmt.serialize_str(msg)
        if 0 < self.max_message_bytes < len(data):
            self._n_refused += 1
            self._log.warn(f"message of {len(data)} bytes not sent: over max_message_bytes={self.max_message_bytes} "
                           f"(the receiver would close the link); {self._n_refused} refused so far")
            return
        try:
            self.sock.send(data, zmq.NOBLOCK)
        except zmq.Again:
            self._n_unsent += 1
            self._log.warn(f"message not sent: {self.sock.getsockopt(zmq.SNDHWM)} messages already wait for "
                           f"{self.address}; {self._n_unsent} unsent so far")
            return
        self._n_out += 1

    def n_unsent(self) -> int:
        """Messages not sent because ``hwm`` messages already waited for the peer."""
        return self._n_unsent

    def n_refused(self) -> int:
        """Messages not sent because they were over ``max_message_bytes``."""
        return self._n_refused

    def n_disconnects(self) -> int:
        return self.monitor.n_disconnects

    def stop(self):
        self.monitor.check()
        self.monitor.close()
        self.sock.close(SEND_LINGER_MS)
        return True
