"""qa_detokenizer: tokens PDU -> u8 image PDU."""
import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.blocks import detokenizer
from gr_semcod.blocks.common import make_pdu

from .harness import pdus, run_block


class qa_detokenizer(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, linear_bundle, tiny_bundle, test_images):
        self.linear, self.tiny, self.images = linear_bundle, tiny_bundle, test_images

    def test_001_exact_image(self):
        blk = detokenizer(self.linear)
        img = self.images[1]
        tok = img.transpose(2, 0, 1).astype(np.float32) / 255.0
        tok[0, 0, 0] = 1.7  # out of range -> clipped to 255
        d = run_block(blk, [make_pdu({"image_id": 3, "n_tokens": 16, "token_dim": 192}, tok.reshape(-1))])
        (meta, out), = pdus(d["out"])
        self.assertEqual((meta["height"], meta["width"], meta["channels"]), (32, 32, 3))
        self.assertNotIn("n_tokens", meta)
        want = img.copy()
        want[0, 0, 0] = 255
        np.testing.assert_array_equal(out.reshape(32, 32, 3), want)

    def test_002_real_model(self):
        blk = detokenizer(self.tiny)
        tok = np.random.default_rng(0).standard_normal((2, 16, 32)).astype(np.float32)
        d = run_block(blk, [make_pdu({"image_id": np.array([0, 1])}, tok)])
        (meta, out), = pdus(d["out"])
        self.assertEqual((out.size, meta["batch"]), (2 * 32 * 32 * 3, 2))

    def test_003_wrong_size_dropped(self):
        blk = detokenizer(self.linear)
        d = run_block(blk, [make_pdu({"image_id": 0}, np.zeros(191, np.float32)),
                            make_pdu({"image_id": 1}, np.zeros(3072, np.float32))], expect=2)
        self.assertEqual((blk.n_dropped(), blk.n_processed()), (1, 1))
        self.assertEqual(d["drop"].num_messages(), 1)
