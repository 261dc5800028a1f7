#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""The receiving end of :mod:`gr_semcod.blocks.zmq_msg_sink`: a ZMQ PULL socket that **binds**
``address`` and a thread that hands every message (``pmt.deserialize_str``) to a callback.

Not a block of its own: a message-only source block never ends a finite flowgraph (nothing
sends it ``done``), so the block that consumes the messages owns the puller and starts and stops
it with itself -- ``digital_encoder``'s ``report_address`` (the receiver's link reports in a
split flowgraph).

The report receiver binds and the sender (``zmq_msg_sink``) connects: a connecting PUSH queues
what it sends before its peer is up (up to its high-water mark), so no report is lost to the
start order; a bound PUSH would have nowhere to put them.

Bad input: a message that does not deserialise is logged and counted (:attr:`n_bad`); one
larger than ``max_message_bytes`` makes libzmq close that peer's connection unread -- the
:class:`~gr_semcod.blocks.zmq_monitor.LinkMonitor` logs and counts it (:attr:`n_disconnects`)
and the peer connects again; the thread keeps running.  Security as the sample sink: loopback
by default, CURVE otherwise (this end the server, admitting only ``peer_key``, the sender's
public key; keys from the environment when empty).
"""
from __future__ import annotations

import threading

import pmt

from ..runtime.zmq_security import limit, resolve, secure
from .zmq_monitor import LinkMonitor
from .zmq_sample_sink import _bind

#: reports are a few hundred bytes; anything far larger is not one
DEFAULT_MAX_MESSAGE_BYTES = 1 << 16


class MessagePuller:
    """``on_message(pmt)`` for every message PULLed on ``address`` (bound) between :meth:`start`
    and :meth:`stop`."""

    def __init__(self, address, on_message, log, timeout=100, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                 security="auto", secret_key="", peer_key=""):
        self.address, self.on_message, self._log = str(address), on_message, log
        self._curve = resolve(self.address, security, secret_key, peer_key, log=log.warn)  # bad keys fail here
        self.secure = self._curve is not None
        self.max_message_bytes = int(max_message_bytes)
        self.timeout = int(timeout)
        self.n_received = self.n_bad = 0
        self._run = threading.Event()
        self._closing = threading.Lock()  # the socket is closed once, by stop() or by the thread
        self._thread = None
        self.sock = None
        self.monitor = None
        self._n_disconnects = self._n_handshake_failures = 0  # of the sockets closed before

    @property
    def n_disconnects(self) -> int:
        """Peer connections closed (a peer that stopped, or sent a message over ``max_message_bytes``)."""
        with self._closing:  # the socket (and its monitor) may be closed by the thread meanwhile
            return self._n_disconnects + (self.monitor.n_disconnects if self.monitor is not None else 0)

    @property
    def n_handshake_failures(self) -> int:
        """Peers refused in the handshake (CURVE keys, protocol)."""
        with self._closing:
            return self._n_handshake_failures + (self.monitor.n_handshake_failures if self.monitor is not None else 0)

    def start(self) -> None:
        """Bind and start the thread (the socket lives from start to stop, so that a stopped
        flowgraph leaves no open socket behind to hold the process at exit)."""
        import zmq

        if self._thread is not None and self._thread.is_alive():
            if self._run.is_set():
                return  # running
            self._thread.join(2.0 + self.timeout / 1000.0)  # a stop() that gave up waiting: let it finish
            if self._thread.is_alive():
                raise RuntimeError(f"report receiver {self.address}: the previous thread is still handling a "
                                   "message; cannot start again until it returns")
        self.sock = zmq.Context.instance().socket(zmq.PULL)
        self.sock.setsockopt(zmq.LINGER, 0)
        limit(self.sock, self.max_message_bytes)
        secure(self.sock, self._curve, server=True)
        self.monitor = LinkMonitor(self.sock, self.address, self._log, reconnect=False, what="report receiver")
        try:
            _bind(self.sock, self.address)
        except Exception:
            self._close()
            raise
        self._run.set()
        self._thread = threading.Thread(target=self._loop, name="semcod_msg_pull", daemon=True)
        self._thread.start()

    def last_endpoint(self) -> str:
        import zmq

        return self.sock.getsockopt_string(zmq.LAST_ENDPOINT) if self.sock is not None else ""

    def stop(self) -> None:
        """Stop the thread and close the socket.  A thread still inside ``on_message`` after the
        join's timeout closes the socket itself when it returns (a ZMQ socket belongs to one
        thread at a time), so no socket outlives a stop."""
        self._run.clear()
        if self._thread is not None:
            self._thread.join(2.0 + self.timeout / 1000.0)
            if self._thread.is_alive():
                self._log.warn(f"report receiver {self.address}: its thread is still handling a message; "
                               "it closes the socket when it returns")
                return
        self._close()

    def _close(self) -> None:
        with self._closing:
            if self.sock is not None:
                self._close_socket()

    def _close_socket(self) -> None:
        if self.monitor is not None:
            self.monitor.check()  # what happened before the stop is counted too
            self._n_disconnects += self.monitor.n_disconnects
            self._n_handshake_failures += self.monitor.n_handshake_failures
            self.monitor.close()
            self.monitor = None
        self.sock.close(0)
        self.sock = None

    def _loop(self) -> None:
        try:
            self._receive()
        finally:  # stopped: the socket is closed here when stop() gave up waiting for this thread
            if not self._run.is_set():
                self._close()

    def _receive(self) -> None:
        import zmq

        while self._run.is_set():
            self.monitor.check()
            try:
                if not self.sock.poll(self.timeout, zmq.POLLIN):
                    continue
                data = self.sock.recv(zmq.NOBLOCK)
            except zmq.ZMQError:
                continue
            try:
                msg = pmt.deserialize_str(data)
            except Exception as e:  # noqa: BLE001 - whatever the peer sent, the thread keeps running
                self.n_bad += 1
                self._log.warn(f"ignored a message from {self.address} that is not a serialised PMT "
                               f"({self.n_bad} so far): {type(e).__name__}")
                continue
            self.n_received += 1
            try:
                self.on_message(msg)
            except Exception as e:  # noqa: BLE001
                self._log.warn(f"message from {self.address} not handled: {type(e).__name__}: {e}")
