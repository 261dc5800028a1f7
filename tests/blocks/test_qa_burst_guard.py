"""qa_burst_guard: zeros around every burst, the last one included; the length tag is updated."""
import numpy as np
import pmt
from gnuradio import blocks, gr, gr_unittest

from gr_semcod.blocks import burst_guard


class qa_burst_guard(gr_unittest.TestCase):
    def test_001_guards_every_burst(self):
        tb = gr.top_block()
        bursts = [np.arange(1, 6), np.arange(10, 13)]
        data = np.concatenate(bursts).astype(np.complex64)
        tags = [gr.tag_utils.python_to_tag((0, pmt.intern("len"), pmt.from_long(5), pmt.PMT_F)),
                gr.tag_utils.python_to_tag((5, pmt.intern("len"), pmt.from_long(3), pmt.PMT_F))]
        src = blocks.vector_source_c(data.tolist(), False, 1, tags)
        g = burst_guard(2, 4, "len")
        snk = blocks.vector_sink_c()
        tb.connect(src, g, snk)
        tb.run()  # finite: ends although the guard sources repeat forever
        out = np.array(snk.data())
        want = np.concatenate([np.zeros(2), bursts[0], np.zeros(4), np.zeros(2), bursts[1], np.zeros(4)])
        np.testing.assert_array_equal(out, want)  # the last burst keeps its trailing zeros
        lens = [(t.offset, pmt.to_long(t.value)) for t in snk.tags() if pmt.symbol_to_string(t.key) == "len"]
        self.assertEqual(lens, [(0, 11), (11, 9)])

    def test_002_bad_guard(self):
        with self.assertRaises(ValueError):
            burst_guard(0, 4)


if __name__ == "__main__":
    gr_unittest.run(qa_burst_guard)
