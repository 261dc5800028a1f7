"""qa_zmq_sample_sink / qa_zmq_sample_source: samples over ZMQ PUSH/PULL, fc32 exact, sc16 quantised."""
import socket
import time

import numpy as np
from gnuradio import blocks, gr, gr_unittest

from gr_semcod.blocks import zmq_sample_sink, zmq_sample_source


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class qa_zmq_samples(gr_unittest.TestCase):
    def roundtrip(self, item_type, n=20000):
        rng = np.random.default_rng(0)
        x = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)
        addr = f"tcp://127.0.0.1:{free_port()}"
        rx = gr.top_block()
        src = zmq_sample_source(addr, item_type)
        head = blocks.head(gr.sizeof_gr_complex, n)
        snk = blocks.vector_sink_c()
        rx.connect(src, head, snk)
        rx.start()  # the PULL side first: PUSH/PULL does not care about the order
        tx = gr.top_block()
        tx.connect(blocks.vector_source_c(x.tolist()), zmq_sample_sink(addr, item_type))
        tx.run()
        t0 = time.monotonic()
        while len(snk.data()) < n and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        rx.stop()
        rx.wait()
        return x, np.array(snk.data(), np.complex64)

    def test_001_fc32_exact(self):
        x, y = self.roundtrip("fc32")
        np.testing.assert_array_equal(y, x)

    def test_002_sc16_quantised(self):
        x, y = self.roundtrip("sc16")
        self.assertEqual(y.size, x.size)
        self.assertLess(float(np.max(np.abs(y - x))), 1.0 / 4096)  # one LSB at scale 4096

    def test_003_bad_type(self):
        with self.assertRaises(ValueError):
            zmq_sample_sink("tcp://127.0.0.1:5999", "s8")


if __name__ == "__main__":
    gr_unittest.run(qa_zmq_samples)
