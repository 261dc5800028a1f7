"""qa_zmq_model_client and semcod serve: models in another process over ZMQ REQ/REP."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.blocks import semcod_tx, zmq_model_client
from gr_semcod.blocks.common import make_pdu
from gr_semcod.runtime import Bundle, BundleError
from gr_semcod.serve import RemoteBundle, Server

from .harness import image_pdu, pdus, post, run_block

REPO = Path(__file__).resolve().parents[2]


class qa_zmq_model_client(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _server(self, linear_bundle, test_images):
        self.images = test_images
        self.server = Server(Bundle.load(linear_bundle), "tcp://127.0.0.1:0")
        self.address = self.server.address
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        yield
        self.server.stop()
        self.thread.join(5)
        self.server.close()

    def test_001_remote_equals_local(self):
        blk = zmq_model_client(self.address, "tokenizer", "u8", "f32")
        d = run_block(blk, [image_pdu(self.images[0], 3)])
        (meta, tok), = pdus(d["out"])
        want = (self.images[0].transpose(2, 0, 1).astype(np.float32) / 255.0).reshape(-1)
        np.testing.assert_allclose(tok, want, atol=1e-7)
        self.assertEqual(meta["image_id"], 3)
        self.assertEqual(self.server.n_requests, 2)  # manifest + one run

    def test_002_named_blocks_take_an_address(self):
        tx = semcod_tx(self.address, "1/2", "semantic", normalize=False)
        self.assertEqual(tx.n_symbols, 1536)

    def test_003_server_errors_are_drops(self):
        blk = zmq_model_client(self.address, "jscc_decoder@1/2", "c32", "f32")
        z = np.zeros(1536, np.complex64)
        # missing snr_db is caught locally; a wrong-size model input is caught by the server
        rb = RemoteBundle(self.address)
        with self.assertRaises(BundleError):
            rb.run("jscc_decoder@1/2", symbols=np.zeros((1, 10, 2), np.float32), snr_db=np.zeros((1, 1), np.float32))
        d = run_block(blk, [make_pdu({"image_id": 0}, z), make_pdu({"image_id": 1, "snr_db": 5.0}, z)], expect=2)
        self.assertEqual((blk.n_dropped(), blk.n_processed()), (1, 1))
        self.assertGreaterEqual(self.server.n_errors, 1)

    def test_004_malformed_requests_get_error_replies(self):
        import zmq

        s = zmq.Context.instance().socket(zmq.REQ)
        s.setsockopt(zmq.RCVTIMEO, 5000)
        s.connect(self.address)
        for frames in ([b"not json"], [b'{"op": "run", "role": "tokenizer", "inputs": [{"name": "images", '
                                       b'"dtype": "float32", "shape": [1, 3, 32, 32]}]}', b"short"],
                       [b'{"op": "run", "role": "tokenizer", "inputs": [{"name": "images", "dtype": "object", '
                        b'"shape": [1]}]}', b"x"]):
            s.send_multipart(frames)
            reply = s.recv_multipart()
            self.assertIn(b'"ok": false', reply[0])
        s.close(0)

    def test_005_timeout_is_a_drop(self):
        blk = zmq_model_client(self.address, "detokenizer", "f32", "u8", timeout=0.5)
        self.server.stop()  # no more replies
        self.thread.join(5)
        d = run_block(blk, [make_pdu({"image_id": 0}, np.zeros(3072, np.float32))], expect=1, timeout=10)
        self.assertEqual(blk.n_dropped(), 1)
        self.assertIn("no reply", blk.last_drop_reason())


def test_semcod_serve_cli(linear_bundle):
    """`semcod serve` binds 127.0.0.1, answers, and exits 0 on SIGTERM."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    p = subprocess.Popen([sys.executable, "-m", "gr_semcod.cli", "serve", "--bundle", linear_bundle, "--address", addr,
                          "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        line = p.stdout.readline()
        assert "semcod serve:" in line and addr in line, line
        rb = RemoteBundle(addr)
        out = rb.run("detokenizer", tokens=np.full((2, 16, 192), 0.25, np.float32))
        assert out["images"].shape == (2, 3, 32, 32)
        np.testing.assert_allclose(out["images"], 0.25)
        rb.close()
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=10)
    assert rc == 0
