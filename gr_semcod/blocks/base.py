"""The base of every gr-semcod message block: drop port, guarded handlers, deferred ``done``,
counters, and the process-wide bundle cache.

A handler never raises into the scheduler: a PDU that cannot be processed (wrong type, wrong
size, bad metadata, inference failure) is logged in one line, counted (:meth:`n_dropped`) and
reported on the ``drop`` port as::

    ((block . <alias>) (reason . <one line>) (image_id . <id or #f>) (count . <n_dropped>))

GNU Radio ends a message-only block as soon as ``done`` reaches its ``system`` port, which may
be handled before PDUs still queued on other ports; the base defers ``done`` until the input
ports are drained (:meth:`DropMixin._install_done_handler`), so finite runs lose no PDU.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import pmt
from gnuradio import gr

from ..contract import KEY_IMAGE_ID, PORT_DROP, PORT_SYSTEM, PDUError, id_for_log
from ..pdu import safe_meta

# --------------------------------------------------------------------------- bundles
_BUNDLES: Dict[Tuple[str, int], Any] = {}
_BUNDLES_LOCK = threading.Lock()


def get_bundle(path, threads: int = 1, timeout: Optional[float] = None):
    """A process-wide cached :class:`~gr_semcod.runtime.Bundle` (ORT sessions are thread-safe).

    ``threads`` is ORT's intra-op thread count per session (0 = ORT default, all cores).
    An address (``tcp://host:port``, ``ipc://...``) gives a
    :class:`~gr_semcod.serve.RemoteBundle`: the models run in ``semcod serve``; ``timeout``
    (seconds) replaces a cached client whose timeout differs.
    """
    from ..runtime import Bundle
    from ..serve import RemoteBundle, is_remote

    if is_remote(str(path)):
        key = (str(path), -1)
        with _BUNDLES_LOCK:
            b = _BUNDLES.get(key)
            if b is None or (timeout is not None and b.timeout != float(timeout)):
                b = _BUNDLES[key] = (RemoteBundle(str(path)) if timeout is None
                                     else RemoteBundle(str(path), timeout=float(timeout)))
            return b
    key = (str(Path(path).resolve()), int(threads))
    with _BUNDLES_LOCK:
        b = _BUNDLES.get(key)
        if b is None:
            b = Bundle.load(path, intra_op_threads=int(threads) or None, inter_op_threads=1)
            _BUNDLES[key] = b
        return b


def post_done(block) -> None:
    """Mark a message-only block finished (the scheduler then ends it and notifies neighbours)."""
    block._post(pmt.intern(PORT_SYSTEM), pmt.cons(pmt.intern("done"), pmt.from_long(1)))


def _named(name, fn):
    def handler(msg):
        fn(msg)

    handler.__name__ = name
    return handler


# --------------------------------------------------------------------------- the mixin
class DropMixin:
    """Counters, timing, the ``drop`` port and the deferred ``done`` of a message block.

    Mixed into a ``gr.basic_block``; :class:`message_block` is the ready-made combination.
    """

    def _init_drop(self, name: str) -> None:
        self._log = gr.logger(name)
        self._n_in = 0
        self._n_out = 0
        self._n_drop = 0
        self._busy_s = 0.0
        self._last_drop = ""
        self._counter_lock = threading.Lock()
        self.message_port_register_out(pmt.intern(PORT_DROP))

    def _drop(self, reason: str, meta: Optional[Dict[str, Any]] = None) -> None:
        with self._counter_lock:
            self._n_drop += 1
            n = self._n_drop
            self._last_drop = reason
        iid = id_for_log(meta) if meta else None
        self._log.warn(f"dropped PDU (image_id={iid}): {reason}")
        try:
            d = pmt.make_dict()
            d = pmt.dict_add(d, pmt.intern("block"), pmt.intern(self.alias()))
            d = pmt.dict_add(d, pmt.intern("reason"), pmt.intern(reason))
            d = pmt.dict_add(d, pmt.intern(KEY_IMAGE_ID), pmt.PMT_F if iid is None else pmt.to_pmt(iid))
            d = pmt.dict_add(d, pmt.intern("count"), pmt.from_long(n))
            self.message_port_pub(pmt.intern(PORT_DROP), d)
        except Exception:  # noqa: BLE001 - never let reporting kill the handler
            pass

    def _set_guarded_handler(self, port: str, handler) -> None:
        """Register ``handler`` (``msg -> None``) on ``port``: exceptions become drops, time is accounted.

        GNU Radio's Python gateway calls a handler by its ``__name__`` on the block, so the
        wrapper is stored as a uniquely named attribute.
        """
        wrapped = self._guarded(handler)
        name = f"_semcod_handle_{port}"
        wrapped.__name__ = name
        setattr(self, name, wrapped)
        self.set_msg_handler(pmt.intern(port), wrapped)

    def _guarded(self, handler):
        """Wrap a ``msg -> None`` handler: exceptions become drops, time is accounted."""

        def run(msg):
            t0 = time.perf_counter()
            self._n_in += 1
            try:
                handler(msg)
            except Exception as e:  # noqa: BLE001 - a handler must never raise into GNU Radio
                self._drop_exception(e, msg)
            finally:
                self._busy_s += time.perf_counter() - t0

        return run

    def _drop_exception(self, e: Exception, msg) -> None:
        """Drop ``msg`` because of ``e`` (a :class:`PDUError` reason as is, else type + first line)."""
        if isinstance(e, PDUError):
            self._drop(str(e), safe_meta(msg))
        else:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            self._drop(f"{type(e).__name__}: {first}", safe_meta(msg))

    # ------------------------------------------------------------------ end of stream
    def _install_done_handler(self, in_ports) -> None:
        """Finish only after the queued input is handled.

        Defers ``done`` until every port in ``in_ports`` is empty and :meth:`_ready_to_finish`
        agrees, re-posting it on a short timer meanwhile, then lets the base class finish.
        """
        self._done_ports = [pmt.intern(p) for p in in_ports]
        self._done_seen = None
        self._set_raw_handler(PORT_SYSTEM, self._handle_system)

    def _set_raw_handler(self, port: str, handler) -> None:
        """Register ``handler`` on ``port`` under a unique attribute name (the gateway calls by name)."""
        name = f"_semcod_raw_{port}"
        wrapper = _named(name, handler)
        setattr(self, name, wrapper)
        self.set_msg_handler(pmt.intern(port), wrapper)

    def _ready_to_finish(self) -> bool:
        return True

    def _handle_system(self, msg) -> None:
        try:
            is_done = pmt.is_pair(msg) and pmt.eq(pmt.car(msg), pmt.intern("done"))
        except Exception:  # noqa: BLE001
            is_done = False
        if not is_done:
            self.system_handler(msg)
            return
        if self._done_seen is None:
            self._done_seen = time.monotonic()
        queued = sum(self.nmsgs(p) for p in self._done_ports)
        if queued == 0 and self._ready_to_finish():
            self.system_handler(msg)
            return
        t = threading.Timer(0.02, self._repost_done, args=(msg,))
        t.daemon = True
        t.start()

    def _repost_done(self, msg) -> None:
        try:
            self._post(pmt.intern(PORT_SYSTEM), msg)
        except Exception:  # noqa: BLE001
            pass

    # counters, callable from python and from GRC variables / tests
    def n_received(self) -> int:
        return self._n_in

    def n_processed(self) -> int:
        return self._n_out

    def n_dropped(self) -> int:
        return self._n_drop

    def last_drop_reason(self) -> str:
        return self._last_drop

    def busy_seconds(self) -> float:
        """Wall time spent in the message handler (the per-block share in ``bench e2e``)."""
        return self._busy_s


class message_block(gr.basic_block, DropMixin):
    """A message-only block: ``handlers`` maps each input port to a ``msg -> None`` handler
    (guarded: exceptions become drops), ``outputs`` are the output ports besides ``drop``.

    ``done`` is deferred until every input port is drained (see :class:`DropMixin`).
    """

    def __init__(self, name: str, handlers: Dict[str, Any], outputs: Sequence[str] = ()):
        gr.basic_block.__init__(self, name=name, in_sig=None, out_sig=None)
        for port in handlers:
            self.message_port_register_in(pmt.intern(port))
        for port in outputs:
            self.message_port_register_out(pmt.intern(port))
        self._init_drop(name)
        for port, handler in handlers.items():
            self._set_guarded_handler(port, handler)
        if handlers:
            self._install_done_handler(list(handlers))
