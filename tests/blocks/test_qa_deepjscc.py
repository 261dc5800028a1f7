"""qa_deepjscc_encoder / qa_deepjscc_decoder: the Deep JSCC baseline blocks."""
import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.blocks import deepjscc_decoder, deepjscc_encoder
from gr_semcod.blocks.common import make_pdu
from gr_semcod.runtime.metrics import psnr

from .bundles import K_LINEAR
from .harness import image_pdu, pdus, run_block


class qa_deepjscc(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, linear_bundle, tiny_bundle, test_images):
        self.linear, self.tiny, self.images = linear_bundle, tiny_bundle, test_images

    def test_001_round_trip(self):
        enc = deepjscc_encoder(self.linear, "1/2", normalize=False)
        d = run_block(enc, [image_pdu(self.images[2], 11)])
        (meta, z), = pdus(d["out"])
        self.assertEqual((z.size, meta["codec"], meta["n_symbols"]), (K_LINEAR, "deepjscc", K_LINEAR))
        dec = deepjscc_decoder(self.linear, "1/2")
        meta["snr_db"] = 10.0
        d = run_block(dec, [make_pdu(meta, z)])
        (m2, img), = pdus(d["out"])
        self.assertEqual((m2["image_id"], m2["height"]), (11, 32))
        np.testing.assert_array_equal(img.reshape(32, 32, 3), self.images[2])

    def test_002_noisy_round_trip_psnr(self):
        """AWGN on the linear code: the image error is the noise / gain, PSNR predictable."""
        enc = deepjscc_encoder(self.linear, "1/2", normalize=False)
        (meta, z), = pdus(run_block(enc, [image_pdu(self.images[0], 0)])["out"])
        sigma2 = 1e-3
        rng = np.random.default_rng(5)
        y = z + np.sqrt(sigma2 / 2) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))
        dec = deepjscc_decoder(self.linear, "1/2")
        (m2, img), = pdus(run_block(dec, [make_pdu({"image_id": 0, "snr_db": 30.0}, y.astype(np.complex64))])["out"])
        got = psnr(self.images[0], img.reshape(32, 32, 3))
        want = 10 * np.log10(1 / (sigma2 / 2 / 4))  # per-pixel noise var sigma2/2 / gain^2
        self.assertAlmostEqual(got, want, delta=1.0)

    def test_003_real_model(self):
        enc = deepjscc_encoder(self.tiny, "1/12")
        (meta, z), = pdus(run_block(enc, [image_pdu(self.images[0], 0)])["out"])
        self.assertEqual(z.size, 256)
        self.assertAlmostEqual(float(np.mean(np.abs(z) ** 2)), 1.0, places=4)
        dec = deepjscc_decoder(self.tiny, "1/12")
        (m2, img), = pdus(run_block(dec, [make_pdu({"image_id": 0, "snr_db": 10.0}, z)])["out"])
        self.assertEqual(img.size, 32 * 32 * 3)

    def test_004_bad_input(self):
        enc = deepjscc_encoder(self.linear, "1/2")
        d = run_block(enc, [make_pdu({"image_id": 0}, np.zeros(10, np.uint8)), image_pdu(self.images[0], 1)], expect=2)
        self.assertEqual((enc.n_dropped(), enc.n_processed()), (1, 1))
        dec = deepjscc_decoder(self.linear, "1/2")
        z = np.zeros(K_LINEAR, np.complex64)
        z[3] = np.inf
        d = run_block(dec, [make_pdu({"image_id": 0, "snr_db": 1.0}, z)], expect=1)
        self.assertEqual(dec.n_dropped(), 1)
        self.assertIn("not finite", dec.last_drop_reason())
