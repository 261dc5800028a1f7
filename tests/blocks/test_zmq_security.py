"""CurveZMQ on the sample bridge and semcod serve: only the expected peer gets data; junk,
oversized messages and rogue peers are refused and counted, and traffic goes on."""
import os
import socket
import threading
import time

import numpy as np
import pytest
import zmq
from gnuradio import blocks, gr

from gr_semcod.blocks import zmq_sample_sink, zmq_sample_source
from gr_semcod.runtime import Bundle, BundleError
from gr_semcod.runtime.zmq_security import ENV_PEER, ENV_SECRET, SecurityError, is_loopback, make_keys, zap_refused
from gr_semcod.serve import RemoteBundle, Server

pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="libzmq without CURVE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    make_keys(d, ["tx", "rx", "rogue", "serve", "client"])
    assert oct(os.stat(d / "tx.key_secret").st_mode & 0o777) == "0o600"
    return {n: (str(d / f"{n}.key_secret"), str(d / f"{n}.key")) for n in ("tx", "rx", "rogue", "serve", "client")}


def samples(n, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)


class Receiver:
    """A PULL flowgraph collecting samples (the RX side of the bridge)."""

    def __init__(self, address, n, **kw):
        self.tb = gr.top_block()
        self.src = zmq_sample_source(address, "fc32", **kw)
        self.snk = blocks.vector_sink_c()
        self.tb.connect(self.src, blocks.head(gr.sizeof_gr_complex, n), self.snk)
        self.tb.start()

    def wait(self, n, timeout=20.0):
        t0 = time.monotonic()
        while len(self.snk.data()) < n and time.monotonic() - t0 < timeout:
            time.sleep(0.05)
        self.tb.stop()
        self.tb.wait()
        return np.array(self.snk.data(), np.complex64)


def send(address, x, **kw):
    tx = gr.top_block()
    sink = zmq_sample_sink(address, "fc32", **kw)
    tx.connect(blocks.vector_source_c(x.tolist()), sink)
    tx.start()
    return tx, sink


def test_loopback_modes():
    assert is_loopback("tcp://127.0.0.1:5555") and is_loopback("ipc:///tmp/x") and is_loopback("tcp://localhost:1")
    assert not is_loopback("tcp://0.0.0.0:5555") and not is_loopback("tcp://10.0.0.2:5555")
    assert not is_loopback("tcp://127.0.0.1.evil.com:5555")


def test_non_loopback_needs_keys(monkeypatch, keys):
    monkeypatch.delenv(ENV_SECRET, raising=False)
    monkeypatch.delenv(ENV_PEER, raising=False)
    with pytest.raises(SecurityError, match="not a loopback address, so CURVE is on by default"):
        zmq_sample_sink(f"tcp://0.0.0.0:{free_port()}")
    # keys from the environment: CURVE on
    monkeypatch.setenv(ENV_SECRET, keys["tx"][0])
    monkeypatch.setenv(ENV_PEER, keys["rx"][1])
    assert zmq_sample_sink(f"tcp://0.0.0.0:{free_port()}").secure


def test_curve_bridge_only_the_expected_peer_gets_samples(keys):
    """A plain PULL and a CURVE PULL with the wrong key connect first; the PUSH (CURVE server, ZAP
    allow-list = rx's public key) gives every sample to rx and none to the rogues."""
    n = 30000
    addr = f"tcp://127.0.0.1:{free_port()}"
    x = samples(n)
    ctx = zmq.Context.instance()
    refused0 = zap_refused()
    plain = ctx.socket(zmq.PULL)
    plain.connect(addr)
    rogue = ctx.socket(zmq.PULL)
    rogue.curve_secretkey = zmq.auth.load_certificate(keys["rogue"][0])[1]
    rogue.curve_publickey = zmq.auth.load_certificate(keys["rogue"][0])[0]
    rogue.curve_serverkey = zmq.auth.load_certificate(keys["tx"][1])[0]
    rogue.connect(addr)
    tx, sink = send(addr, x, security="curve", secret_key=keys["tx"][0], peer_key=keys["rx"][1])
    time.sleep(0.5)
    rx = Receiver(addr, n, security="curve", secret_key=keys["rx"][0], peer_key=keys["tx"][1])
    y = rx.wait(n)
    tx.stop()
    tx.wait()
    np.testing.assert_array_equal(y, x)
    assert plain.poll(200) == 0 and rogue.poll(200) == 0  # they got nothing
    assert zap_refused() > refused0  # the rogue key was refused by ZAP
    plain.close(0)
    rogue.close(0)


def test_pull_refuses_junk_and_oversized_messages_and_goes_on(keys):
    """Odd-sized junk is refused and counted; a frame above max_message_bytes drops that peer
    before it is read; samples sent afterwards still arrive."""
    n = 4000
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    x = samples(n, 1)
    ctx = zmq.Context.instance()
    junk = ctx.socket(zmq.PUSH)
    junk.setsockopt(zmq.LINGER, 1000)
    junk.setsockopt(zmq.SNDTIMEO, 10000)
    junk.bind(addr)
    rx = Receiver(addr, n, security="none", max_message_bytes=1 << 16)
    junk.send(os.urandom(13))
    junk.send(os.urandom(1 << 17))  # bigger than the limit: libzmq drops the connection unread
    time.sleep(1.0)  # the PULL side sees the disconnect and connects again
    junk.send(x.tobytes())  # and the good samples arrive
    y = rx.wait(n, timeout=20)
    assert rx.src.n_refused() == 1 and rx.src.pull.n_reconnects >= 1
    np.testing.assert_array_equal(y, x)
    junk.close(0)


# --------------------------------------------------------------------------- serve
@pytest.fixture
def curve_server(linear_bundle, keys):
    srv = Server(Bundle.load(linear_bundle), f"tcp://127.0.0.1:{free_port()}", security="curve",
                 secret_key=keys["serve"][0], peer_key=keys["client"][1], max_batch=8, max_message_bytes=1 << 20)
    t = threading.Thread(target=srv.serve, daemon=True)
    t.start()
    yield srv
    srv.stop()
    t.join(5)
    srv.close()


def tokens(b):
    return np.random.default_rng(b).random((b, 16, 192)).astype(np.float32)


def test_serve_curve_admits_only_known_clients(curve_server, keys):
    rb = RemoteBundle(curve_server.address, timeout=5, security="curve", secret_key=keys["client"][0],
                      peer_key=keys["serve"][1])
    out = rb.run("detokenizer", tokens=tokens(2))["images"]
    assert out.shape == (2, 3, 32, 32)
    with pytest.raises(BundleError, match="no reply"):  # wrong client key: handshake refused
        RemoteBundle(curve_server.address, timeout=1, security="curve", secret_key=keys["rogue"][0],
                     peer_key=keys["serve"][1])
    plain = zmq.Context.instance().socket(zmq.REQ)
    plain.connect(curve_server.address)
    plain.send(b'{"op": "manifest"}')
    assert plain.poll(1000) == 0  # an unauthenticated client gets nothing
    plain.close(0)
    np.testing.assert_array_equal(rb.run("detokenizer", tokens=tokens(2))["images"], out)
    rb.close()


def test_serve_limits_and_broken_clients_cost_nobody_a_reply(linear_bundle):
    srv = Server(Bundle.load(linear_bundle), "tcp://127.0.0.1:0", max_batch=8, max_message_bytes=1 << 20)
    t = threading.Thread(target=srv.serve, daemon=True)
    t.start()
    try:
        good = RemoteBundle(srv.address, timeout=5)
        ctx = zmq.Context.instance()
        broken = ctx.socket(zmq.DEALER)
        broken.connect(srv.address)
        broken.send_multipart([os.urandom(8), os.urandom(300)])  # junk header
        broken.send(b"")  # no request id
        big = ctx.socket(zmq.DEALER)
        big.connect(srv.address)
        big.send_multipart([b"1" * 8, b'{"op": "manifest"}', os.urandom(2 << 20)])  # frame above the limit
        gone = ctx.socket(zmq.DEALER)
        gone.connect(srv.address)
        gone.send_multipart([b"2" * 8, b'{"op": "manifest"}'])
        gone.close(0)  # vanishes before its reply
        for b in (1, 8):
            assert good.run("detokenizer", tokens=tokens(b))["images"].shape == (b, 3, 32, 32)
        with pytest.raises(BundleError, match="exceeds max_batch 8"):
            good.run("detokenizer", tokens=tokens(9))
        assert broken.poll(2000)
        assert b'"ok": false' in broken.recv_multipart()[1]
        assert big.poll(500) == 0  # dropped by libzmq, never read whole
        assert good.run("detokenizer", tokens=tokens(1))["images"].shape == (1, 3, 32, 32)
        broken.close(0)
        big.close(0)
        good.close()
    finally:
        srv.stop()
        t.join(5)
        srv.close()


# --------------------------------------------------------------------------- link reports


def test_report_link_with_curve_admits_only_the_receiver_key(keys):
    """The report link under CURVE: the transmitter's report receiver binds (CURVE server,
    admitting the receiver's public key), the receiver's zmq_msg_sink connects (client, trusting
    the transmitter's key).  The right sink's reports arrive; a rogue sink's never do -- its
    failed handshake is counted at the receiver -- and the right one still gets through."""
    import pmt

    from gr_semcod.blocks import zmq_msg_sink
    from gr_semcod.blocks.zmq_msg_pull import MessagePuller

    addr = f"tcp://127.0.0.1:{free_port()}"
    got = []
    puller = MessagePuller(addr, lambda m: got.append(pmt.to_double(m)), gr.logger("qa_reports"), security="curve",
                           secret_key=keys["tx"][0], peer_key=keys["rx"][1])
    puller.start()
    assert puller.secure
    sinks = {who: zmq_msg_sink(addr, security="curve", secret_key=keys[who][0], peer_key=keys["tx"][1])
             for who in ("rogue", "rx")}
    tb = gr.top_block()
    for s in sinks.values():
        tb.msg_connect(s, "drop", blocks.message_debug(), "store")
    tb.start()
    try:
        for who, v in (("rogue", 66.0), ("rx", 1.0), ("rogue", 67.0), ("rx", 2.0)):
            sinks[who].to_basic_block()._post(pmt.intern("in"), pmt.from_double(v))
        t0 = time.monotonic()
        while sorted(got) != [1.0, 2.0] and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        time.sleep(0.3)
        assert sorted(got) == [1.0, 2.0], got
        t0 = time.monotonic()
        while puller.n_handshake_failures < 1 and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert puller.n_handshake_failures >= 1  # the rogue's, logged and counted
    finally:
        tb.stop()
        tb.wait()
        puller.stop()
