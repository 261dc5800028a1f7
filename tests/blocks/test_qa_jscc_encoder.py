"""qa_jscc_encoder: tokens PDU -> unit-power complex symbols PDU."""
import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.blocks import jscc_encoder
from gr_semcod.blocks.common import make_pdu

from .bundles import ENC_GAIN, K_LINEAR, N_TOKENS
from .harness import pdus, run_block


def tokens_pdu(tokens, image_id, sizes=True, **meta):
    m = {"image_id": image_id, "n_tokens": N_TOKENS, "token_dim": tokens.size // N_TOKENS}
    if sizes:
        m["token_sizes"] = np.ones(N_TOKENS, np.float32)
    m.update(meta)
    return make_pdu(m, tokens.astype(np.float32))


class qa_jscc_encoder(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, linear_bundle, tiny_bundle):
        self.linear, self.tiny = linear_bundle, tiny_bundle
        self.tokens = np.random.default_rng(1).uniform(0, 1, 3072).astype(np.float32)

    def test_001_exact_symbols_and_metadata(self):
        blk = jscc_encoder(self.linear, "1/2", normalize=False)
        d = run_block(blk, [tokens_pdu(self.tokens, 9)])
        (meta, z), = pdus(d["out"])
        self.assertEqual(z.dtype, np.complex64)
        self.assertEqual(z.size, K_LINEAR)
        self.assertEqual((meta["image_id"], meta["cbr"], meta["n_symbols"], meta["codec"]), (9, "1/2", K_LINEAR, "semantic"))
        self.assertNotIn("token_sizes", meta)
        iq = ((self.tokens - 0.5) * ENC_GAIN).reshape(K_LINEAR, 2)
        np.testing.assert_allclose(z, iq[:, 0] + 1j * iq[:, 1], atol=1e-6)

    def test_002_unit_power(self):
        blk = jscc_encoder(self.linear, "1/2", normalize=True)
        d = run_block(blk, [tokens_pdu(self.tokens, 1)])
        (_, z), = pdus(d["out"])
        self.assertAlmostEqual(float(np.mean(np.abs(z) ** 2)), 1.0, places=5)

    def test_003_real_model(self):
        blk = jscc_encoder(self.tiny, "1/12")
        tok = np.random.default_rng(0).standard_normal(16 * 32).astype(np.float32)
        d = run_block(blk, [tokens_pdu(tok, 4)])
        (meta, z), = pdus(d["out"])
        self.assertEqual((z.size, meta["n_symbols"]), (256, 256))  # 1/12 of 32*32*3
        self.assertAlmostEqual(float(np.mean(np.abs(z) ** 2)), 1.0, places=4)

    def test_004_missing_sizes_dropped(self):
        blk = jscc_encoder(self.linear, "1/2")
        d = run_block(blk, [tokens_pdu(self.tokens, 1, sizes=False), tokens_pdu(self.tokens, 2)], expect=2)
        self.assertEqual(blk.n_dropped(), 1)
        self.assertIn("token_sizes", blk.last_drop_reason())
        self.assertEqual([m["image_id"] for m, _ in pdus(d["out"])], [2])

    def test_005_unknown_cbr(self):
        with self.assertRaises(ValueError):
            jscc_encoder(self.linear, "1/7")
