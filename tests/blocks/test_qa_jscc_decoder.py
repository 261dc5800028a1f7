"""qa_jscc_decoder: SNR / noise variance / erasures from the PHY metadata."""
import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.blocks import jscc_decoder
from gr_semcod.blocks.common import make_pdu

from .bundles import ENC_GAIN, K_LINEAR
from .harness import pdus, run_block


def w(snr_db):
    s = 10 ** (snr_db / 10)
    return s / (1 + s)


class qa_jscc_decoder(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, linear_bundle, tiny_bundle):
        self.linear, self.tiny = linear_bundle, tiny_bundle
        rng = np.random.default_rng(2)
        self.z = (rng.standard_normal(K_LINEAR) + 1j * rng.standard_normal(K_LINEAR)).astype(np.complex64)
        iq = np.stack([self.z.real, self.z.imag], -1).reshape(-1)
        self.centered = iq / ENC_GAIN  # tokens - 0.5 at w = 1

    def decode(self, blk, metas):
        d = run_block(blk, [make_pdu(m, self.z) for m in metas], expect=len(metas))
        return {m["image_id"]: (m, t) for m, t in pdus(d["out"])}

    def test_001_uses_metadata_snr(self):
        blk = jscc_decoder(self.linear, "1/2", snr_db=30.0)
        out = self.decode(blk, [{"image_id": 0, "snr_db": 0.0}, {"image_id": 1, "snr_db": 20.0},
                                {"image_id": 2, "noise_var": 0.1}])
        for iid, snr in ((0, 0.0), (1, 20.0), (2, 10.0)):
            meta, tok = out[iid]
            self.assertAlmostEqual(meta["snr_db_used"], snr, places=4)
            np.testing.assert_allclose(tok, self.centered * w(snr) + 0.5, atol=1e-5)
        self.assertEqual(blk.n_snr_fallback(), 0)

    def test_002_fallback_and_fixed(self):
        blk = jscc_decoder(self.linear, "1/2", snr_db=5.0)
        meta, tok = self.decode(blk, [{"image_id": 0}])[0]
        np.testing.assert_allclose(tok, self.centered * w(5.0) + 0.5, atol=1e-5)
        self.assertEqual(blk.n_snr_fallback(), 1)
        fixed = jscc_decoder(self.linear, "1/2", snr_db=-3.0, snr_source="fixed")
        meta, tok = self.decode(fixed, [{"image_id": 0, "snr_db": 20.0}])[0]
        self.assertAlmostEqual(meta["snr_db_used"], -3.0, places=5)

    def test_002b_noise_var_source(self):
        """snr_source="noise_var" prefers the post-equaliser noise variance over snr_db."""
        blk = jscc_decoder(self.linear, "1/2", snr_source="noise_var")
        out = self.decode(blk, [{"image_id": 0, "snr_db": 20.0, "noise_var": 0.1}, {"image_id": 1, "snr_db": 3.0}])
        self.assertAlmostEqual(out[0][0]["snr_db_used"], 10.0, places=4)
        self.assertAlmostEqual(out[1][0]["snr_db_used"], 3.0, places=4)
        with self.assertRaises(ValueError):
            jscc_decoder(self.linear, "1/2", snr_source="loud")

    def test_003_erasures_become_zeros(self):
        blk = jscc_decoder(self.linear, "1/2")
        mask = np.zeros(K_LINEAR, np.uint8)
        mask[100:200] = 1
        out = self.decode(blk, [{"image_id": 0, "snr_db": 100.0, "erasure_mask": mask},
                                {"image_id": 1, "snr_db": 100.0, "erasures": np.array([5, 7], np.int64)}])
        m0, t0 = out[0]
        self.assertEqual(m0["n_erased"], 100)
        t0 = t0.reshape(K_LINEAR, 2)
        np.testing.assert_allclose(t0[100:200], 0.5, atol=1e-6)  # zero symbol -> mid grey
        np.testing.assert_allclose(t0[:100], self.centered.reshape(K_LINEAR, 2)[:100] + 0.5, atol=1e-4)  # SNR clipped to 50 dB
        m1, t1 = out[1]
        self.assertEqual(m1["n_erased"], 2)
        np.testing.assert_allclose(t1.reshape(K_LINEAR, 2)[[5, 7]], 0.5, atol=1e-6)

    def test_004_wrong_metadata_dropped(self):
        blk = jscc_decoder(self.linear, "1/2")
        bad = [{"image_id": 0, "snr_db": "loud"}, {"image_id": 1, "noise_var": -1.0},
               {"image_id": 2, "snr_db": float("nan")}, {"image_id": 3, "cbr": "1/12"},
               {"image_id": 4, "erasures": np.array([K_LINEAR + 5], np.int64)}]
        out = self.decode(blk, bad + [{"image_id": 5, "snr_db": 3.0}])
        self.assertEqual(list(out), [5])
        self.assertEqual(blk.n_dropped(), len(bad))

    def test_005_real_model_snr_changes_output(self):
        blk = jscc_decoder(self.tiny, "1/12")
        z = self.z[:256]
        d = run_block(blk, [make_pdu({"image_id": 0, "snr_db": 0.0}, z), make_pdu({"image_id": 1, "snr_db": 20.0}, z)])
        out = {m["image_id"]: t for m, t in pdus(d["out"])}
        self.assertEqual(out[0].size, 16 * 32)
        self.assertGreater(float(np.abs(out[0] - out[1]).max()), 1e-4)  # conditioned on the SNR
