"""qa_zmq_msg_sink / zmq_msg_pull: the link reports of a split flowgraph over ZMQ.

The report receiver (the transmitter's ``report_address``) binds, the sender connects and
queues: nothing is lost to the start order; the queue is bounded and what it refuses is counted;
an oversized message is refused at the sender, and one from another peer is logged and counted
at the receiver, whose link goes on."""
import threading
import time

import pmt
import pytest
from gnuradio import blocks, gr

from gr_semcod.blocks import zmq_msg_sink
from gr_semcod.blocks.zmq_msg_pull import MessagePuller

from .harness import post, wait_for

pytestmark = pytest.mark.gnuradio


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(i):
    d = pmt.make_dict()
    d = pmt.dict_add(d, pmt.intern("snr_db"), pmt.from_double(float(i)))
    return pmt.dict_add(d, pmt.intern("n"), pmt.from_long(i))


class Collector:
    def __init__(self):
        self.got, self._lock = [], threading.Lock()

    def __call__(self, msg):
        with self._lock:
            self.got.append(pmt.to_python(pmt.dict_ref(msg, pmt.intern("n"), pmt.PMT_NIL)))

    def ids(self):
        with self._lock:
            return list(self.got)


def running(block):
    tb = gr.top_block()
    tb.msg_connect(block, "drop", blocks.message_debug(), "store")
    tb.start()
    return tb


def stopped(tb):
    tb.stop()
    tb.wait()


def post_before_the_receiver_binds(n, **sink_args):
    """A running zmq_msg_sink that has been sent ``n`` reports, and a puller not started yet:
    ``(sink, its top block, collector, puller)``."""
    addr = f"tcp://127.0.0.1:{free_port()}"
    snk = zmq_msg_sink(addr, **sink_args)
    tb = running(snk)
    got = Collector()
    puller = MessagePuller(addr, got, gr.logger("qa_reports"))
    for i in range(n):
        post(snk, "in", report(i))
    assert wait_for(lambda: snk.n_processed() + snk.n_unsent() == n, 10)
    return snk, tb, got, puller


def test_reports_sent_before_the_receiver_is_up_all_arrive_in_order():
    """The receiver's sink sends 20 reports before the transmitter binds: all arrive, in order,
    none unsent (a bound PUSH without a peer had nowhere to put them)."""
    snk, tb, got, puller = post_before_the_receiver_binds(20)
    try:
        time.sleep(0.3)  # the sender has had every chance to drop them
        puller.start()
        assert wait_for(lambda: len(got.ids()) == 20, 10), (got.ids(), snk.n_unsent())
        assert got.ids() == list(range(20)) and snk.n_unsent() == 0 and puller.n_bad == 0
    finally:
        puller.stop()
        stopped(tb)


def test_the_queue_is_bounded_by_hwm_and_what_it_refuses_is_counted():
    snk, tb, got, puller = post_before_the_receiver_binds(8, hwm=3)
    try:
        # the queue holds hwm messages per pipe; ZMQ's pipe may take a couple more before it says full
        assert 3 <= snk.n_processed() <= 8 and snk.n_unsent() == 8 - snk.n_processed()
        assert snk.n_unsent() >= 1, "8 reports into a queue of 3 without a peer: some must be refused, and counted"
        puller.start()
        assert wait_for(lambda: len(got.ids()) == snk.n_processed(), 10)
        assert got.ids() == list(range(snk.n_processed()))  # the first ones, in order; the rest counted unsent
    finally:
        puller.stop()
        stopped(tb)
    with pytest.raises(ValueError, match="hwm"):
        zmq_msg_sink(f"tcp://127.0.0.1:{free_port()}", hwm=0)


def test_an_oversized_report_is_refused_at_the_sender_and_the_link_goes_on():
    """A report over max_message_bytes would make the receiver close the connection (and lose the
    reports in flight behind it): the sink refuses it, counts it, and every other report arrives."""
    addr = f"tcp://127.0.0.1:{free_port()}"
    got = Collector()
    puller = MessagePuller(addr, got, gr.logger("qa_reports"), max_message_bytes=4096)
    puller.start()
    snk = zmq_msg_sink(addr, max_message_bytes=4096)
    tb = running(snk)
    try:
        big = pmt.dict_add(report(99), pmt.intern("junk"), pmt.init_u8vector(10000, [1] * 10000))
        msgs = [report(0), report(1), big, report(2), report(3)]
        for m in msgs:
            post(snk, "in", m)
        assert wait_for(lambda: got.ids() == [0, 1, 2, 3], 10), got.ids()
        assert (snk.n_refused(), snk.n_unsent(), puller.n_disconnects, puller.n_bad) == (1, 0, 0, 0)
    finally:
        stopped(tb)
        puller.stop()


def test_an_oversized_message_from_a_peer_is_logged_and_counted_and_the_link_resumes():
    """Another sender's message over max_message_bytes: libzmq closes that connection unread.  The
    receiver's monitor counts it (it used to go unnoticed), the peer connects again, and the
    messages sent after the reconnect arrive."""
    import zmq

    addr = f"tcp://127.0.0.1:{free_port()}"
    got = Collector()
    puller = MessagePuller(addr, got, gr.logger("qa_reports"), max_message_bytes=4096)
    puller.start()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(addr)
    try:
        push.send(pmt.serialize_str(report(0)))
        assert wait_for(lambda: got.ids() == [0], 10)
        push.send(b"x" * 10000)  # over the limit: the connection is closed
        assert wait_for(lambda: puller.n_disconnects >= 1, 10), "the dropped link went unnoticed"
        t0 = time.monotonic()
        i = 1
        while time.monotonic() - t0 < 10 and (not got.ids() or got.ids()[-1] < 1):
            push.send(pmt.serialize_str(report(i)), zmq.NOBLOCK)  # the PUSH reconnects by itself
            i += 1
            time.sleep(0.05)
        assert got.ids()[-1] >= 1, "nothing arrived after the oversized message"
        assert puller.n_bad == 0
    finally:
        push.close(0)
        puller.stop()
    assert puller.n_disconnects >= 1  # still counted after the stop


def test_the_receiver_refuses_junk_and_goes_on():
    import zmq

    addr = f"tcp://127.0.0.1:{free_port()}"
    got = Collector()
    puller = MessagePuller(addr, got, gr.logger("qa_reports"))
    puller.start()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(addr)
    try:
        push.send(b"\x07not a pmt")
        push.send(pmt.serialize_str(report(5)))
        assert wait_for(lambda: got.ids() == [5] and puller.n_bad == 1, 10), (got.ids(), puller.n_bad)
    finally:
        push.close(0)
        puller.stop()


class SlowPeer:
    """A MessagePuller whose handler blocks on its first message until ``release`` is set, and a
    PUSH socket connected to it (``close()`` releases and closes everything)."""

    def __init__(self):
        import threading

        import zmq

        self.addr = f"tcp://127.0.0.1:{free_port()}"
        self.entered, self.release, self.got = threading.Event(), threading.Event(), []
        self.puller = MessagePuller(self.addr, self._handle, gr.logger("qa_reports"), timeout=10)
        self.puller.start()
        self.push = zmq.Context.instance().socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, 0)
        self.push.connect(self.addr)

    def _handle(self, msg):
        self.got.append(msg)
        if len(self.got) == 1:
            self.entered.set()
            self.release.wait(10)

    def send(self, i):
        self.push.send(pmt.serialize_str(report(i)))

    def close(self):
        self.release.set()
        self.push.close(0)
        self.puller.stop()


def test_a_stop_during_a_slow_handler_leaves_no_socket_open():
    """A handler still running when stop() gives up waiting: the thread closes the socket itself
    when the handler returns (before, the socket stayed open until the process ended)."""
    peer = SlowPeer()
    puller = peer.puller
    try:
        peer.send(0)
        assert peer.entered.wait(10)
        puller.stop()                       # gives up after ~2 s: the handler still runs
        assert puller.sock is not None and puller._thread.is_alive()
        peer.release.set()
        assert wait_for(lambda: puller.sock is None, 10), "the socket outlived the stop"
        puller._thread.join(5)
        assert not puller._thread.is_alive()
        puller.start()                      # the address is free again
        assert puller.sock is not None and puller._thread.is_alive()
    finally:
        peer.close()
    assert puller.sock is None


def test_a_restart_right_after_a_stop_that_gave_up_waits_for_the_old_thread():
    """start() after a stop() that gave up on a slow handler: it waits for the old thread (which
    closes its socket), then binds again and receives; it used to return at once and leave the
    receiver dead."""
    import threading

    peer = SlowPeer()
    puller = peer.puller
    try:
        peer.send(0)
        assert peer.entered.wait(10)
        puller.stop()                                   # gives up: the handler still runs
        threading.Timer(0.5, peer.release.set).start()  # ... and returns while start() waits
        puller.start()
        assert puller.sock is not None and puller._thread.is_alive()
        peer.send(1)
        assert wait_for(lambda: len(peer.got) == 2, 10), "the restarted receiver got nothing"
    finally:
        peer.close()
