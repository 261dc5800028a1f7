"""Deferred ``done`` for message-only blocks: a finite run ends after the queued data has left.

GNU Radio ends a message-only block as soon as a ``done`` message reaches its ``system``
port.  That message may be served before PDUs still queued on the block's other ports, and
the block's downstream neighbours then get ``done`` too -- ``pdu_to_tagged_stream`` finishes
with frames still in its queue (the tail of a finite run vanished there).  :func:`defer_done`
replaces the ``system`` handler of a block: ``done`` is re-posted on a short timer until
``ready()`` is true, then the block finishes as usual.
"""
from __future__ import annotations

import threading
from typing import Callable

import pmt

PORT_SYSTEM = "system"
#: seconds between two checks of ``ready`` once ``done`` arrived
RETRY_S = 0.02


def is_done(msg) -> bool:
    try:
        return pmt.is_pair(msg) and pmt.eq(pmt.car(msg), pmt.intern("done"))
    except Exception:  # noqa: BLE001 - a malformed system message is not "done"
        return False


def defer_done(block, ready: Callable[[], bool], attr: str = "_semcod_drain_system") -> None:
    """Make ``block`` (a Python ``gr.basic_block``) finish only once ``ready()`` is true.

    The handler is stored as ``block.<attr>`` (GNU Radio's Python gateway calls handlers by
    their ``__name__`` on the block).
    """
    port = pmt.intern(PORT_SYSTEM)

    def repost(msg):
        try:
            block._post(port, msg)
        except Exception:  # noqa: BLE001 - the flowgraph is gone
            pass

    def handler(msg):
        if not is_done(msg):
            block.system_handler(msg)
            return
        try:
            ok = bool(ready())
        except Exception:  # noqa: BLE001 - a failing check must not hang the run
            ok = True
        if ok:
            block.system_handler(msg)
            return
        t = threading.Timer(RETRY_S, repost, args=(msg,))
        t.daemon = True
        t.start()

    handler.__name__ = attr
    setattr(block, attr, handler)
    block.set_msg_handler(port, handler)
