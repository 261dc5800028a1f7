#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""The link watch of the ZMQ blocks: a socket's monitor events, logged and counted.

libzmq closes a connection without a word to the application when the peer breaks the protocol
-- a message above the receiver's ``ZMQ_MAXMSGSIZE`` (``max_message_bytes``), a failed CURVE
handshake -- and the side that saw the error does not connect again.  :class:`LinkMonitor`
reads the socket's monitor (``zmq_socket_monitor``) whenever its owner polls it: every
disconnect and failed handshake is logged and counted, and a socket that connects
(``reconnect=True``) is connected again, so the link resumes.  A binding socket needs no
reconnect: its peer connects again by itself.
"""
from __future__ import annotations

#: monitor events watched: (pyzmq name, what the log says)
_WATCHED = (
    ("EVENT_DISCONNECTED", "peer disconnected (it stopped, or sent a message over max_message_bytes, "
                           "which libzmq refuses by closing the connection)"),
    ("EVENT_HANDSHAKE_FAILED_PROTOCOL", "handshake failed: protocol error"),
    ("EVENT_HANDSHAKE_FAILED_AUTH", "handshake failed: authentication refused (CURVE keys)"),
    ("EVENT_HANDSHAKE_FAILED_NO_DETAIL", "handshake failed"),
)


class LinkMonitor:
    """Watches ``sock`` (connected or bound to ``address``); :meth:`check` from the owner's thread.

    Counters: :attr:`n_disconnects`, :attr:`n_handshake_failures`, :attr:`n_reconnects`."""

    def __init__(self, sock, address: str, log, reconnect: bool, what: str = "link"):
        import zmq

        self._events = {getattr(zmq, name): text for name, text in _WATCHED if hasattr(zmq, name)}
        mask = 0
        for e in self._events:
            mask |= e
        self.sock, self.address, self._log, self.reconnect, self.what = sock, str(address), log, bool(reconnect), what
        self._monitor = sock.get_monitor_socket(mask)
        self.n_disconnects = 0
        self.n_handshake_failures = 0
        self.n_reconnects = 0

    def n_events(self) -> int:
        return self.n_disconnects + self.n_handshake_failures

    def check(self) -> int:
        """Read the pending events: log and count each; reconnect once if the link dropped.
        Returns the number of events read."""
        import zmq
        from zmq.utils.monitor import recv_monitor_message

        if self._monitor is None:
            return 0
        n, dropped = 0, False
        while self._monitor.poll(0):
            try:
                ev = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.ZMQError:
                break
            text = self._events.get(ev["event"])
            if text is None:
                continue
            n += 1
            if ev["event"] == zmq.EVENT_DISCONNECTED:
                self.n_disconnects += 1
                dropped = True
                count = f"{self.n_disconnects} disconnect(s)"
            else:
                self.n_handshake_failures += 1
                count = f"{self.n_handshake_failures} failed handshake(s)"
            self._log.warn(f"{self.what} {self.address}: {text}; {count} so far")
        if dropped and self.reconnect:
            self.n_reconnects += 1
            self._log.warn(f"{self.what} {self.address}: connecting again ({self.n_reconnects})")
            self.sock.disconnect(self.address)
            self.sock.connect(self.address)
        return n

    def close(self) -> None:
        """Stop watching (before the socket closes)."""
        if self._monitor is None:
            return
        try:
            self.sock.disable_monitor()
        except Exception:  # noqa: BLE001 - the socket may be closed already
            pass
        self._monitor.close(0)
        self._monitor = None
